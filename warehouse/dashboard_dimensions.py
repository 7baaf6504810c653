"""The dashboard's four-dimension radar (relational, service, experiential, emotional) from
marts.experience_dimensions, scope all.

It shows the last complete month (the month before the one holding the dashboard's latest day), or
the month to date, marked partial, while no month is complete: the dimensions combine components of
several grains (answers, contacts, customers) and a month gives each of them the n it needs more often
than a week does. Each axis carries its label, score and n; the dashed polygon is the catalogue target.
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
from markupsafe import Markup, escape

from streams import formatting
from warehouse.db import table_exists

# clockwise from the top, as the four dimensions are usually drawn
AXES = ("relational", "service", "experiential", "emotional")


def _month_before(day: date) -> date:
    return date(day.year - (day.month == 1), 12 if day.month == 1 else day.month - 1, 1)


def collect_dimensions(con: duckdb.DuckDBPyConnection, latest: date | None) -> dict:
    """{"dimensions": {period_start, partial, rows, svg}} or {"dimensions": None} without data."""
    if latest is None or not table_exists(con, "marts", "experience_dimensions"):
        return {"dimensions": None}
    current = latest.replace(day=1)
    rows = con.execute(
        """
        select period_start, dimension, label_en, label_fr, score, n, target, status
        from marts.experience_dimensions
        where period_type = 'month' and scope = 'all' and period_start in (?, ?)""",
        [_month_before(current), current],
    ).fetchall()
    by_month: dict[date, dict[str, dict]] = {}
    for start, dimension, label_en, label_fr, score, n, target, status in rows:
        by_month.setdefault(start, {})[dimension] = {
            "dimension": dimension,
            "label_en": label_en,
            "label_fr": label_fr,
            "score": score,
            "n": n,
            "target": target,
            "status": status,
        }
    month = _month_before(current) if _month_before(current) in by_month else current
    if month not in by_month:
        return {"dimensions": None}
    axes = [by_month[month][d] for d in AXES if d in by_month[month]]
    return {
        "dimensions": {
            "period_start": month,
            "partial": month == current,
            "rows": axes,
            "svg": Markup(radar_svg(axes)),
        }
    }


def radar_svg(axes: list[dict], width: int = 640, height: int = 440) -> str:
    """Inline SVG radar: rings at 25/50/75/100, the target (dashed) and the scores, each axis labelled
    with its name (English and French, switched by the page), score and n. A dimension without a score
    (no_data) has no point and says so."""
    # wider than high: the labels of the side axes run outwards
    cx, cy, radius = width / 2, height / 2, height / 2 - 70
    count = len(axes)
    if count < 3:
        return ""

    def point(i: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * i / count
        r = radius * max(0.0, min(100.0, value)) / 100
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    parts = [
        f'<svg id="radar" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="The four dimensions of the experience, scores 0-100">'
    ]
    for ring in (25, 50, 75, 100):
        ring_points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, ring) for i in range(count)))
        parts.append(f'<polygon points="{ring_points}" class="ring"/>')
        x, y = point(0, ring)
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 4:.1f}" class="tick">{ring}</text>')
    for i in range(count):
        x, y = point(i, 100)
        parts.append(f'<line x1="{cx}" y1="{cy}" x2="{x:.1f}" y2="{y:.1f}" class="axis"/>')
    target = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, a["target"]) for i, a in enumerate(axes)))
    parts.append(f'<polygon points="{target}" class="target"/>')
    scored = [(i, a) for i, a in enumerate(axes) if a["score"] is not None]
    if len(scored) == count:
        shape = " ".join(f"{x:.1f},{y:.1f}" for x, y in (point(i, a["score"]) for i, a in scored))
        parts.append(f'<polygon points="{shape}" class="score"/>')
    for i, a in scored:
        x, y = point(i, a["score"])
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="point {escape(a["status"])}"/>')
    for i, a in enumerate(axes):
        angle = -math.pi / 2 + 2 * math.pi * i / count
        x, y = cx + (radius + 18) * math.cos(angle), cy + (radius + 18) * math.sin(angle)
        anchor = "middle" if abs(math.cos(angle)) < 0.3 else ("start" if math.cos(angle) > 0 else "end")
        dy = -22 if math.sin(angle) < -0.5 else (14 if math.sin(angle) > 0.5 else -6)
        # the words and numbers of the rest of the page (streams.formatting): "pas de données", "n = 2 328"
        value = "no data" if a["score"] is None else f"{a['score']:.0f} / 100"
        value_fr = formatting.TARGET_STATUS_FR["no_data"] if a["score"] is None else f"{a['score']:.0f} / 100"
        n_en, n_fr = formatting.count(a["n"]), formatting.count(a["n"], True)
        parts.append(
            f'<g class="axis-label" data-dimension="{escape(a["dimension"])}">'
            f'<text x="{x:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}" class="name en">{escape(a["label_en"])}</text>'
            f'<text x="{x:.1f}" y="{y + dy:.1f}" text-anchor="{anchor}" class="name fr">{escape(a["label_fr"])}</text>'
            f'<text x="{x:.1f}" y="{y + dy + 16:.1f}" text-anchor="{anchor}" class="value en">{value} · n = {n_en}'
            "</text>"
            f'<text x="{x:.1f}" y="{y + dy + 16:.1f}" text-anchor="{anchor}" class="value fr">{value_fr} · n = {n_fr}'
            "</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
