"""Rich tables shared by the commands: reconciliation, KPI tiles, alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cxpulse.config import Settings
from quality import lifecycle, wording
from quality.lifecycle import Action
from streams import formatting
from warehouse.db import table_exists

if TYPE_CHECKING:
    from cxpulse.reconcile import PartitionCounts

RECONCILED = (
    "produced",
    "committed",
    "consumed",
    "loaded",
    "duplicates",
    "dead_letters",
    "not_loaded",
    "erased",
    "txn_skipped",
    "lag",
    "balance",
)
_SEVERITY_COLOURS = {"critical": "red", "warning": "yellow", "info": "blue"}
_STATUS_COLOURS = {"green": "green", "amber": "yellow", "red": "red", "no_data": "dim"}


def progress_bar(console: Console) -> Progress:
    """The one progress bar of the commands: what, bar, done/total, elapsed."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console)


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def reconciliation_table(rows: Sequence[PartitionCounts]) -> Table:
    """One row per topic and partition, then one total per topic."""
    table = Table(
        title="reconciliation: produced = loaded + duplicates + dead letters + not loaded + erased + txn skipped + lag"
    )
    for header in ("topic", "partition", *RECONCILED):
        table.add_column(header.replace("_", " "), justify="left" if header == "topic" else "right")
    totals: dict[str, dict[str, int | None]] = {}
    for r in rows:
        table.add_row(r.topic, str(r.partition), *(_n(getattr(r, key)) for key in RECONCILED))
        t = totals.setdefault(r.topic, {})
        for key in RECONCILED:
            value, total = getattr(r, key), t.get(key, 0)
            # An unknown count (no broker) makes the total unknown, never a reassuring 0.
            t[key] = None if value is None or total is None else total + value
    for topic, t in totals.items():
        cells = ["" if key == "committed" else _n(t[key]) for key in RECONCILED]
        table.add_row(f"[bold]{topic}[/bold]", "all", *cells, style="bold")
    return table


def print_reconciliation(settings: Settings, console: Console) -> bool | None:
    """The reconciliation of the live warehouse, and whether it balances (says why when it does not):
    None when it cannot be known (no broker: nothing says how many messages were produced)."""
    from cxpulse.reconcile import ReconciliationError, check_balanced, reconcile
    from warehouse.db import connect

    con = connect(settings.warehouse_path, read_only=True)
    try:
        rows = reconcile(con, settings)
    finally:
        con.close()
    console.print(reconciliation_table(rows))
    if any(r.txn_skipped for r in rows):
        console.print(
            "txn skipped: offsets holding no message for a read_committed consumer (one commit/abort marker per "
            "transaction and partition, and the records of aborted transactions)"
        )
    try:
        check_balanced(rows)  # without a broker: what was consumed must still be explained
    except ReconciliationError as exc:
        console.print(f"[red]{exc}[/red]")
        return False
    if any(r.produced is None for r in rows):
        console.print(
            f"[yellow]reconciliation unknown[/yellow]: the broker at {settings.kafka_bootstrap} is not reachable, "
            "so produced and lag are unknown (`cxpulse broker start`); what was consumed is all loaded, a "
            "duplicate, a dead letter or waiting in a landing file"
        )
        return None
    if rows:
        lag = max(rows, key=lambda r: r.lag)
        console.print(
            f"lag: {sum(r.lag for r in rows):,} messages not landed yet"
            + (f" (most on {lag.topic}[{lag.partition}]: {lag.lag:,})" if lag.lag else "")
        )
    console.print("[green]counts reconcile[/green]: every message produced is loaded, a duplicate or a dead letter")
    return True


def print_last_publish(settings: Settings, console: Console) -> None:
    """When the BI snapshot was last published (ops.runs), and how long ago."""
    from warehouse.db import connect
    from warehouse.runs import last_success

    con = connect(settings.warehouse_path, read_only=True)
    try:
        at = last_success(con, "publish")
    finally:
        con.close()
    if at is None and settings.published_path.exists():  # published before runs were recorded
        at = datetime.fromtimestamp(settings.published_path.stat().st_mtime, UTC)
    if at is None:
        console.print("last publish: never (`cxpulse run`, or the cx_publish DAG)")
        return
    age = datetime.now(UTC) - at
    minutes = int(age.total_seconds() // 60)
    ago = f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
    console.print(f"last publish: {at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC ({ago} ago)")


def kpi_table(con: duckdb.DuckDBPyConnection, *, french: bool = False) -> Table:
    """The dashboard's tiles: every KPI of the last complete ISO week, scope all, and the week to date."""
    from warehouse.dashboard import collect

    data = collect(con)
    if not data["week"]:
        title = "KPI : pas encore de données" if french else "KPIs: no data yet"
    elif data["week_partial"]:
        title = (
            f"KPI, semaine en cours depuis le {data['week']} (partielle)"
            if french
            else f"KPIs, week to date from {data['week']} (partial)"
        )
    else:
        title = (
            f"KPI, semaine du {data['week']} (dernière semaine complète)"
            if french
            else f"KPIs, week of {data['week']} (last complete week)"
        )
    table = Table(title=title)
    for key in ("kpi", "value", "target", "status", "trend"):
        table.add_column(formatting.header(key, french), justify="left" if key == "kpi" else "right")
    table.add_column("n", justify="right")
    if data["week_to_date"]:
        to_date = data["week_to_date"]
        header = (
            f"semaine en cours depuis le {to_date} (partielle)" if french else f"week to date from {to_date} (partial)"
        )
        table.add_column(header, justify="right")
    for tile in data["tiles"]:
        colour = _STATUS_COLOURS.get(tile.status, "white")
        row = [
            escape(tile.label_fr if french else tile.label_en),
            tile.value_fr if french else tile.value,
            tile.target_fr if french else tile.target,
            f"[{colour}]{formatting.TARGET_STATUS_FR.get(tile.status, tile.status) if french else tile.status}[/]",
            tile.trend or "",
            formatting.count(tile.n, french),
        ]
        if data["week_to_date"]:
            value = tile.to_date_value_fr if french else tile.to_date_value
            to_date = f"{value} (n = {formatting.count(tile.to_date_n, french)})"
            row.append("" if tile.to_date_value is None else to_date)
        table.add_row(*row)
    return table


_BY_SEVERITY = "case severity when 'critical' then 0 when 'warning' then 1 else 2 end"


def _open_first(
    con: duckdb.DuckDBPyConnection, table: str, columns: str, order: str, only_open: bool, limit: int
) -> list[tuple]:
    """`columns` of marts.`table` (only its open rows if `only_open`) in `order`, at most `limit`; no row
    when the table does not exist yet. Table, columns and order are literals of this module."""
    if not table_exists(con, "marts", table):
        return []
    return con.execute(
        f"select {columns} from marts.{table} where status = 'open' or not ? order by {order} limit ?",  # noqa: S608
        [only_open, limit],
    ).fetchall()


def _table(title: str, keys: Sequence[str], french: bool) -> Table:
    table = Table(title=title)
    for key in keys:
        table.add_column(formatting.header(key, french), overflow="fold")
    return table


def _severity(severity: str, french: bool) -> str:
    return f"[{_SEVERITY_COLOURS.get(severity, 'white')}]{wording.severity(severity, french)}[/]"


def alerts_table(
    con: duckdb.DuckDBPyConnection, *, only_open: bool, french: bool, limit: int, title: str
) -> Table | None:
    """marts.alerts: drift findings before single-answer (hot path) alerts and target breaches, most
    severe first, then newest first; None when there is no alert (or no alert table yet)."""
    message_column = "message_fr" if french else "message"
    columns = f"status, severity, rule, scope, cast(first_fired_at as varchar), {message_column}"
    # drift findings first; single answers (hot path) and target breaches after them
    hot_last = "rule in ('detractor_complaint', 'target_breach')"
    order = f"{hot_last}, {_BY_SEVERITY}, rule = 'target_breach', first_fired_at desc"
    rows = _open_first(con, "alerts", columns, order, only_open, limit)
    if not rows:
        return None
    table = _table(title, ("status", "severity", "rule", "scope", "first_fired", "message"), french)
    for status, severity, rule, scope, fired, message in rows:
        # scope and message carry text from events (a touchpoint named "[/]" would be Rich markup)
        table.add_row(
            wording.status(status, french),
            _severity(severity, french),
            rule,
            escape(wording.scope_label(scope, french)),
            fired[:16],
            escape(message),
        )
    return table


def incidents_table(
    con: duckdb.DuckDBPyConnection,
    *,
    only_open: bool,
    french: bool,
    limit: int,
    title: str,
    actions: Sequence[Action] = (),
) -> Table | None:
    """marts.incidents, open first, most severe first, then newest, with who acknowledged or snoozed each
    (marts.incident_actions, and `actions` not copied there yet); None when there is none."""
    headline_column = "headline_fr" if french else "headline"
    columns = f"incident_id, status, severity, root_scope, explained_share, alerts, opened_at, {headline_column}"
    order = f"status = 'resolved', {_BY_SEVERITY}, opened_at desc"
    rows = _open_first(con, "incidents", columns, order, only_open, limit)
    if not rows:
        return None
    standing = lifecycle.standings(con, list(actions))
    now = datetime.now(UTC)
    keys = ("id", "status", "severity", "root", "explained", "findings", "opened", "follow_up", "headline")
    table = _table(title, keys, french)
    for incident_id, status, severity, root, share, findings, opened, headline in rows:
        explained = "" if share is None else wording.share(share, french)
        follow_up = standing[incident_id].describe(french, now) if incident_id in standing else ""
        table.add_row(
            incident_id[:8],
            wording.status(status, french),
            _severity(severity, french),
            escape(wording.scope_name(root, french)),
            explained,
            str(findings),
            formatting.moment(opened.astimezone(UTC), french),
            escape(follow_up),
            escape(headline),
        )
    return table
