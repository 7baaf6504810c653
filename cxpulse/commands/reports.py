"""`cxpulse alerts`, `incidents`, `drivers`, `journeys`, `dashboard`: read the published marts."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from cxpulse.commands.common import EXIT_CONFIG, cli_settings, console, err
from cxpulse.views import alerts_table, incidents_table


def marts_path() -> Path:
    """The published snapshot when there is one, else the live warehouse (both read-only)."""
    settings = cli_settings()
    path = settings.published_path if settings.published_path.exists() else settings.warehouse_path
    if not path.exists():
        console.print("no warehouse yet: run `cxpulse run` first")
        raise typer.Exit(1)
    return path


def alerts(
    only_open: bool = typer.Option(False, "--open", help="only alerts still open"),
    french: bool = typer.Option(False, "--fr", help="messages in French"),
    limit: int = typer.Option(50, "--limit", help="most severe first, at most this many"),
) -> None:
    """Print the alerts of marts.alerts as a table (from the published snapshot).

    Example: `cxpulse alerts --open --fr`
    """
    import duckdb

    path = marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        title = f"cxpulse alerts ({path}), most severe first"
        table = alerts_table(con, only_open=only_open, french=french, limit=limit, title=title)
    finally:
        con.close()
    console.print(table or "no alerts")


def journeys(
    scope: str = typer.Option("all", "--scope", help="one journey (e.g. purchase), or all"),
    period: str = typer.Option("month", "--period", help="week or month (the last complete one)"),
    french: bool = typer.Option(False, "--fr", help="labels in French"),
) -> None:
    """Print each journey's funnel: entered, how each step ended, drop-off, answers, moments of truth, ruptures.

    Example: `cxpulse journeys --scope purchase --fr`
    """
    import duckdb

    from warehouse.dashboard_journeys import collect_journeys, funnel_text

    if period not in ("week", "month"):
        err.print(f"[red]--period:[/red] {period!r} is not one of week, month")
        raise typer.Exit(2)
    con = duckdb.connect(str(marts_path()), read_only=True)
    try:
        data = collect_journeys(con, period, scope)
    finally:
        con.close()
    console.print(funnel_text(data, french), markup=False, highlight=False)


def incidents(
    ctx: typer.Context,
    only_open: bool = typer.Option(False, "--open", help="only incidents still open"),
    french: bool = typer.Option(False, "--fr", help="headlines in French"),
    limit: int = typer.Option(50, "--limit", help="open and most severe first, at most this many"),
) -> None:
    """Print the incidents of marts.incidents (what people are notified of), from the published snapshot.

    An incident groups the findings one root cause explains; `cxpulse alerts` lists the findings.
    `cxpulse incidents ack ID --note TEXT` and `cxpulse incidents snooze ID --until YYYY-MM-DD` quiet one.

    Example: `cxpulse incidents --open --fr`
    """
    if ctx.invoked_subcommand is not None:
        return
    import duckdb

    from quality.lifecycle import read_actions

    path = marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        title = f"cxpulse incidents ({path})" if not french else f"incidents cxpulse ({path})"
        table = incidents_table(
            con, only_open=only_open, french=french, limit=limit, title=title, actions=read_actions(cli_settings())
        )
    finally:
        con.close()
    console.print(table or ("aucun incident" if french else "no incidents"))


def _incident_action(incident_id: str, action: str, by: str | None, note: str | None, until: str | None) -> None:
    """Record one acknowledgement or snooze (quality.lifecycle), after checking the id on the snapshot."""
    from datetime import datetime

    import duckdb

    from quality import lifecycle

    settings = cli_settings()
    day = None
    if until is not None:
        try:
            day = datetime.strptime(until, "%Y-%m-%d").date()
        except ValueError:
            err.print(f"[red]--until must be a date YYYY-MM-DD, got {escape(until)!r}[/red]")
            raise typer.Exit(EXIT_CONFIG) from None
    path = marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        incident = lifecycle.resolve_id(con, incident_id)
        entry = lifecycle.record(settings, incident, action, by=by or lifecycle.current_user(), note=note, until=day)
    except lifecycle.LifecycleError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    finally:
        con.close()
    console.print(
        f"incident {incident.incident_id[:8]}: {escape(lifecycle.Standing(**{action: entry}).describe())}; "
        "no notification unless it worsens (taken into account at the next `cxpulse run` / cx_quality)"
    )


def incidents_ack(
    incident_id: str = typer.Argument(..., help="the incident's id, or its first characters"),
    note: str = typer.Option(None, "--note", help="what is being done about it"),
    by: str = typer.Option(None, "--by", help="who acknowledges (default: $CXPULSE_USER or your login)"),
) -> None:
    """Acknowledge an incident: it is not notified again unless it worsens (severity up).

    Example: `cxpulse incidents ack 3f2a9c01 --note "chat vendor outage, ticket INC-4411"`
    """
    _incident_action(incident_id, "ack", by, note, None)


def incidents_snooze(
    incident_id: str = typer.Argument(..., help="the incident's id, or its first characters"),
    until: str = typer.Option(..., "--until", help="quiet until the start of this date (YYYY-MM-DD)"),
    note: str = typer.Option(None, "--note", help="why"),
    by: str = typer.Option(None, "--by", help="who snoozes (default: $CXPULSE_USER or your login)"),
) -> None:
    """Snooze an incident until a date: quiet unless it worsens; told once more if still open then.

    Example: `cxpulse incidents snooze 3f2a9c01 --until 2026-12-07 --note "fix ships Monday"`
    """
    _incident_action(incident_id, "snooze", by, note, until)


def drivers(
    scope: str = typer.Option("all", "--scope", help="all, channel:NAME or segment:NAME"),
    period: str = typer.Option("month", "--period", help="month or week (the latest one with rows)"),
    french: bool = typer.Option(False, "--fr", help="labels in French"),
) -> None:
    """Print the key drivers of NPS and CSAT (marts.drivers): importance, interval, performance, quadrant.

    Example: `cxpulse drivers --scope channel:phone --fr`
    """
    import duckdb

    from cxpulse.drivers_view import DriversError, drivers_table

    con = duckdb.connect(str(marts_path()), read_only=True)
    try:
        table = drivers_table(con, scope=scope, period_type=period, french=french)
    except DriversError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(EXIT_CONFIG) from None
    finally:
        con.close()
    none = "pas encore de leviers (trop peu de réponses)" if french else "no drivers yet (too few answers)"
    console.print(table or none)


def dashboard(
    out: Path = typer.Option(None, "--out", help="HTML file to write (default $CXPULSE_HOME/reports/dashboard.html)"),
) -> None:
    """Write the continuous-progress dashboard: one self-contained HTML file (EN/FR), from the published snapshot.

    Example: `cxpulse dashboard --out reports/dashboard.html`
    """
    import duckdb

    from warehouse.dashboard import write_dashboard

    settings = cli_settings()
    if not settings.published_path.exists():
        console.print("no published snapshot yet: run `cxpulse run` (or `cxpulse dags`) first")
        raise typer.Exit(1)
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        written = write_dashboard(con, out or settings.reports_dir / "dashboard.html")
    finally:
        con.close()
    console.print(f"dashboard written: {written}")
