"""`cxpulse drivers`: the key drivers of marts.drivers as a terminal table (the CLI keeps only its parser
lines and calls `drivers_table`)."""

from __future__ import annotations

import duckdb
from rich.markup import escape
from rich.table import Table

from streams import formatting
from warehouse.dashboard_levers import QUADRANT_LABELS
from warehouse.db import table_exists

PERIOD_TYPES = ("month", "week")
# terminal colours of the quadrants; their EN/FR names are the dashboard's (one definition)
_QUADRANT_COLOURS = {"focus": "red", "maintain": "green", "monitor": "yellow", "secondary": "dim"}


class DriversError(ValueError):
    """What the user asked for is not in marts.drivers; the message says what is."""


def _pct(value: float | None, french: bool) -> str:
    return "–" if value is None else formatting.percent(value, 1, french)


def drivers_table(
    con: duckdb.DuckDBPyConnection, *, scope: str = "all", period_type: str = "month", french: bool = False
) -> Table | None:
    """The latest period of `period_type` for `scope`: per outcome and lever, importance with its 95 %
    interval, share of R², performance, n and quadrant, most important first. None when the mart is
    empty; DriversError when the scope or period type is unknown (naming those available)."""
    if period_type not in PERIOD_TYPES:
        raise DriversError(f"--period must be one of {', '.join(PERIOD_TYPES)}, got {period_type!r}")
    if not table_exists(con, "marts", "drivers"):
        return None
    scopes = [r[0] for r in con.execute("select distinct scope from marts.drivers order by scope").fetchall()]
    if not scopes:
        return None
    if scope not in scopes:
        raise DriversError(f"no driver rows for scope {scope!r}; scopes with rows: {', '.join(scopes)}")
    start = con.execute(
        "select max(period_start) from marts.drivers where period_type = ? and scope = ?", [period_type, scope]
    ).fetchall()[0][0]
    if start is None:
        return None
    rows = con.execute(
        """select outcome, label_en, label_fr, importance, importance_low, importance_high, importance_share,
                  performance, n, r2, quadrant
           from marts.drivers where period_type = ? and period_start = ? and scope = ?
           order by outcome desc, importance desc, driver""",
        [period_type, start, scope],
    ).fetchall()
    if french:
        period = {"month": "mois", "week": "semaine"}[period_type]
        title = f"Leviers du NPS et de la satisfaction — {period} du {start}, périmètre {scope}"
        headers = ("résultat", "levier", "importance", "IC 95 %", "part du R²", "performance", "n", "R²", "quadrant")
    else:
        title = f"Drivers of NPS and CSAT — {period_type} starting {start}, scope {scope}"
        headers = (
            "outcome",
            "lever",
            "importance",
            "95 % interval",
            "share of R²",
            "performance",
            "n",
            "R²",
            "quadrant",
        )
    table = Table(title=escape(title), caption="Johnson (2000) relative weights; importance = % of variance")
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if 2 <= i <= 7 else "left")
    for outcome, label_en, label_fr, imp, low, high, share, perf, n, r2, quadrant in rows:
        (en, fr), colour = QUADRANT_LABELS[quadrant], _QUADRANT_COLOURS[quadrant]
        table.add_row(
            outcome.upper(),
            escape(label_fr if french else label_en),
            _pct(imp, french),
            f"{_pct(low, french)} – {_pct(high, french)}",
            _pct(share, french),
            _pct(perf, french),
            formatting.count(n, french),
            formatting.number(r2, 2, french),
            f"[{colour}]{fr if french else en}[/{colour}]",
        )
    return table
