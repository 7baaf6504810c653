"""`cxpulse alerts`, `incidents`, `dashboard`: read the published marts."""

from __future__ import annotations

from pathlib import Path

import typer

from cxpulse.commands.common import cli_settings, console
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


def incidents(
    only_open: bool = typer.Option(False, "--open", help="only incidents still open"),
    french: bool = typer.Option(False, "--fr", help="headlines in French"),
    limit: int = typer.Option(50, "--limit", help="open and most severe first, at most this many"),
) -> None:
    """Print the incidents of marts.incidents (what people are notified of), from the published snapshot.

    An incident groups the findings one root cause explains; `cxpulse alerts` lists the findings.

    Example: `cxpulse incidents --open --fr`
    """
    import duckdb

    path = marts_path()
    con = duckdb.connect(str(path), read_only=True)
    try:
        title = f"cxpulse incidents ({path})" if not french else f"incidents cxpulse ({path})"
        table = incidents_table(con, only_open=only_open, french=french, limit=limit, title=title)
    finally:
        con.close()
    console.print(table or ("aucun incident" if french else "no incidents"))


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
