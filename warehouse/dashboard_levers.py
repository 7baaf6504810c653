"""The dashboard's "levers" section: the key-driver quadrant of marts.drivers (importance x performance).

`collect_levers(con)` reads the latest month (scope `all`) of marts.drivers, NPS and CSAT; `quadrant_svg`
draws one chart per outcome: x = performance (share of answers where the lever was at its good level,
%), y = importance (Johnson's relative weight, % of the outcome's variance), one point per lever with
its bootstrap 95 % interval as a vertical error bar, the quadrant lines at the means (the thresholds of
marts.drivers), axes with ticks and units, and n and R^2 in the caption. Labels come from the catalogue
but are escaped all the same.
"""

from __future__ import annotations

import math
from typing import Any

import duckdb
from markupsafe import Markup, escape

from warehouse.db import table_exists

QUADRANT_COLOURS = {"focus": "#c53030", "maintain": "#1a7f37", "monitor": "#b7791f", "secondary": "#718096"}
QUADRANT_LABELS = {
    "focus": ("focus", "priorité"),
    "maintain": ("maintain", "à maintenir"),
    "monitor": ("monitor", "à surveiller"),
    "secondary": ("secondary", "secondaire"),
}


def collect_levers(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The latest month of marts.drivers for scope 'all': rows per outcome and their charts."""
    data: dict[str, Any] = {"month": None, "outcomes": []}
    if not table_exists(con, "marts", "drivers"):
        return data
    month = con.execute(
        "select max(period_start) from marts.drivers where period_type = 'month' and scope = 'all'"
    ).fetchall()[0][0]
    if month is None:
        return data
    data["month"] = month
    for outcome in ("nps", "csat"):
        cursor = con.execute(
            """select driver, label_en, label_fr, importance, importance_low, importance_high, performance, n, r2,
                      quadrant
               from marts.drivers
               where period_type = 'month' and period_start = ? and scope = 'all' and outcome = ?
               order by importance desc, driver""",
            [month, outcome],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        if rows:
            for row in rows:
                row["quadrant_en"], row["quadrant_fr"] = QUADRANT_LABELS[row["quadrant"]]
            data["outcomes"].append({"outcome": outcome, "rows": rows, "svg": quadrant_svg(rows, outcome)})
    return data


def _ticks(low: float, high: float) -> list[float]:
    """Round ticks (1, 2 or 5 x 10^k apart, 3 to 6 of them) from `low` to `high`."""
    span = high - low
    step = next(s * 10**k for k in range(-4, 2) for s in (1, 2, 5) if span / (s * 10**k) <= 5)
    first = math.ceil(low / step - 1e-9)
    return [i * step for i in range(first, int(high / step + 1e-9) + 1)]


def quadrant_svg(rows: list[dict[str, Any]], outcome: str, width: int = 720, height: int = 420) -> Markup:
    """Inline SVG: importance (% of variance, with 95 % error bars) against performance (%)."""
    left, right, top, bottom = 70, 170, 30, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = max(max(r["importance_high"] for r in rows), max(r["importance"] for r in rows)) * 1.1 or 0.01
    x_low = min(0.5, min(r["performance"] for r in rows) - 0.05)
    x_low = max(0.0, int(x_low * 10) / 10)

    def x(value: float) -> float:
        return left + (value - x_low) / (1 - x_low) * plot_w

    def y(value: float) -> float:
        return top + plot_h - value / y_max * plot_h

    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" class="levers" data-outcome="{escape(outcome)}" '
        f'aria-label="{escape(outcome)} key drivers: importance by performance">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#cbd5e0"/>',
    ]
    base = top + plot_h
    for tick in _ticks(x_low, 1.0):
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="{base}" x2="{x(tick):.1f}" y2="{base + 5}" stroke="#4a5568"/>'
            f'<text x="{x(tick):.1f}" y="{base + 18}" font-size="11" text-anchor="middle">{tick * 100:.0f} %</text>'
        )
    for tick in _ticks(0.0, y_max):
        parts.append(
            f'<line x1="{left - 5}" y1="{y(tick):.1f}" x2="{left}" y2="{y(tick):.1f}" stroke="#4a5568"/>'
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick * 100:.1f} %</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 18}" font-size="12" text-anchor="middle">'
        "performance: share of answers where the lever was at its good level (%) / performance (%)</text>"
        f'<text x="16" y="{top + plot_h / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2})">importance: % of {escape(outcome.upper())} variance / '
        "importance (% de variance)</text>"
    )
    # quadrant lines at the means (marts.drivers: mean share of R^2, mean performance)
    r2 = rows[0]["r2"]
    mean_importance = r2 / len(rows)
    mean_performance = sum(r["performance"] for r in rows) / len(rows)
    parts.append(
        f'<line x1="{left}" y1="{y(mean_importance):.1f}" x2="{left + plot_w}" y2="{y(mean_importance):.1f}" '
        'stroke="#a0aec0" stroke-dasharray="4 4"/>'
        f'<line x1="{x(mean_performance):.1f}" y1="{top}" x2="{x(mean_performance):.1f}" y2="{top + plot_h}" '
        'stroke="#a0aec0" stroke-dasharray="4 4"/>'
        f'<text x="{left + 6}" y="{top + 14}" font-size="11" fill="#c53030">focus / priorité</text>'
        f'<text x="{left + plot_w - 6}" y="{top + 14}" font-size="11" fill="#1a7f37" text-anchor="end">'
        "maintain / à maintenir</text>"
    )
    crowded = 0  # levers near the x axis get their labels staggered, so that neighbours stay readable
    for r in sorted(rows, key=lambda r: r["performance"]):
        colour = QUADRANT_COLOURS[r["quadrant"]]
        cx, cy = x(r["performance"]), y(r["importance"])
        # With the verbatim levers a model has up to 20, most of them `secondary` (less important, performing)
        # and bunched in the lower right corner: those keep their point, a hover title and their table row.
        label = escape(r["label_en"])
        if r["quadrant"] == "secondary" and len(rows) > 10:
            parts.append(
                f'<g class="lever" data-driver="{escape(r["driver"])}"><circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" '
                f'fill="{colour}"><title>{label}</title></circle></g>'
            )
            continue
        label_y = cy - 6
        if r["importance"] < 0.08 * y_max:  # one row of its own above the axis, 5 rows in turn
            label_y = top + plot_h - 8 - 14 * (crowded % 5)
            crowded += 1
        low, high = y(r["importance_low"]), y(r["importance_high"])
        parts.append(
            f'<g class="lever" data-driver="{escape(r["driver"])}">'
            f'<line x1="{cx:.1f}" y1="{low:.1f}" x2="{cx:.1f}" y2="{high:.1f}" stroke="{colour}" stroke-width="1.5"/>'
            f'<line x1="{cx - 4:.1f}" y1="{low:.1f}" x2="{cx + 4:.1f}" y2="{low:.1f}" stroke="{colour}"/>'
            f'<line x1="{cx - 4:.1f}" y1="{high:.1f}" x2="{cx + 4:.1f}" y2="{high:.1f}" stroke="{colour}"/>'
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="5" fill="{colour}"/>'
            f'<text x="{cx + 8:.1f}" y="{label_y:.1f}" font-size="11">{label}</text></g>'
        )
    n = max(r["n"] for r in rows)
    parts.append(
        f'<text x="{left + plot_w + 10}" y="{top + 12}" font-size="12">n = {n} answers</text>'
        f'<text x="{left + plot_w + 10}" y="{top + 30}" font-size="12">R² = {r2:.2f}</text>'
        f'<text x="{left + plot_w + 10}" y="{top + 48}" font-size="11" fill="#4a5568">bars: 95 % interval</text>'
        + (
            f'<text x="{left + plot_w + 10}" y="{top + 66}" font-size="11" fill="#4a5568">unlabelled: secondary,</text>'
            f'<text x="{left + plot_w + 10}" y="{top + 80}" font-size="11" fill="#4a5568">see the table</text>'
            if len(rows) > 10
            else ""
        )
        + "</svg>"
    )
    return Markup("".join(parts))  # numbers and escaped labels only
