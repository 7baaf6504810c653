"""Rich tables shared by the commands: reconciliation, KPI tiles, alerts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import duckdb
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cxpulse.config import Settings

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
    totals: dict[str, dict[str, int]] = {}
    for r in rows:
        table.add_row(r.topic, str(r.partition), *(_n(getattr(r, key)) for key in RECONCILED))
        t = totals.setdefault(r.topic, {})
        for key in RECONCILED:
            t[key] = t.get(key, 0) + (getattr(r, key) or 0)
    for topic, t in totals.items():
        cells = ["" if key == "committed" else _n(t[key]) for key in RECONCILED]
        table.add_row(f"[bold]{topic}[/bold]", "all", *cells, style="bold")
    return table


def print_reconciliation(settings: Settings, console: Console) -> bool:
    """The reconciliation of the live warehouse, and whether it balances (says why when it does not)."""
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
    if rows and rows[0].produced is None:
        console.print("[yellow]broker not reachable: produced and lag unknown[/yellow] (`cxpulse broker start`)")
    try:
        check_balanced(rows)
    except ReconciliationError as exc:
        console.print(f"[red]{exc}[/red]")
        return False
    console.print("[green]counts reconcile[/green]: every message produced is loaded, a duplicate or a dead letter")
    return True


def kpi_table(con: duckdb.DuckDBPyConnection, *, french: bool = False) -> Table:
    """The dashboard's tiles: every KPI of the latest ISO week, scope all."""
    from warehouse.dashboard import collect

    data = collect(con)
    table = Table(title=f"KPIs, week of {data['week']}" if data["week"] else "KPIs: no data yet")
    for header in ("KPI", "value", "target", "status", "trend", "n"):
        table.add_column(header, justify="left" if header == "KPI" else "right")
    for tile in data["tiles"]:
        colour = _STATUS_COLOURS.get(tile.status, "white")
        table.add_row(
            tile.label_fr if french else tile.label_en,
            tile.value,
            tile.target,
            f"[{colour}]{tile.status}[/]",
            tile.trend or "",
            f"{tile.n:,}",
        )
    return table


def alerts_table(
    con: duckdb.DuckDBPyConnection, *, only_open: bool, french: bool, limit: int, title: str
) -> Table | None:
    """marts.alerts, most severe first, drift before target breaches, then newest first; None when
    there is no alert (or no alert table yet)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = 'alerts'"
    ).fetchall()[0][0]
    if not exists:
        return None
    rows = con.execute(
        "select status, severity, rule, scope, cast(first_fired_at as varchar), "  # noqa: S608 - column picked from two literals
        f"{'message_fr' if french else 'message'} from marts.alerts "
        "where status = 'open' or not ? "
        "order by case severity when 'critical' then 0 when 'warning' then 1 else 2 end, "
        "rule = 'target_breach', first_fired_at desc limit ?",
        [only_open, limit],
    ).fetchall()
    if not rows:
        return None
    table = Table(title=title)
    for header in ("status", "severity", "rule", "scope", "first fired", "message"):
        table.add_column(header, overflow="fold")
    for status, severity, rule, scope, fired, message in rows:
        colour = _SEVERITY_COLOURS.get(severity, "white")
        table.add_row(status, f"[{colour}]{severity}[/]", rule, scope, fired[:16], message)
    return table
