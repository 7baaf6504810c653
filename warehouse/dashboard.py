"""The continuous-progress dashboard as one self-contained HTML file (no network, no external asset).

Reads the published snapshot (or any warehouse connection): KPI tiles of the last complete ISO week
from marts.progress_dashboard, each with the week to date beside it (marked partial) and its trend
line over the complete weeks before (a week is complete once the marts hold a later day: the data
says what "now" is, not the clock), open incidents first (each expandable to its findings and evidence), the
latest targets digest, the weekly NPS with its 95 % band, service KPIs by channel, the complaints Pareto
with its cost, and the open alerts (findings) for drill-down. Every text that comes from data is escaped by Jinja2's
autoescape; charts are inline SVG. English and French, switched in the page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path

import duckdb
import jinja2
from markupsafe import Markup

from streams import formatting
from streams.landing import write_atomically
from warehouse.dashboard_dimensions import collect_dimensions
from warehouse.dashboard_incidents import annotate as annotate_incidents
from warehouse.dashboard_journeys import collect_journeys
from warehouse.dashboard_levers import collect_levers
from warehouse.dashboard_verbatims import collect_verbatims, irritants_svg
from warehouse.db import table_exists

# the daily marts whose latest day is the "as of" of the dashboard (the last day with data)
DAILY_MARTS = ("kpi_service_daily", "kpi_experience_daily", "kpi_cases_daily")
# complete weeks on a tile's trend line
SPARK_WEEKS = 12


@dataclass(frozen=True)
class Tile:
    kpi: str
    label_en: str
    label_fr: str
    value: str
    target: str
    status: str
    trend: str | None
    n: int
    value_fr: str = ""
    target_fr: str = ""
    # the week to date beside the complete week (None when the tile itself is the week to date)
    to_date_value: str | None = None
    to_date_n: int | None = None
    to_date_value_fr: str | None = None
    # the KPI's values over the complete weeks up to the tile's week, oldest first (its trend line)
    spark: tuple[float, ...] = ()


def format_value(value: float | None, unit: str, french: bool = False) -> str:
    """A tile's value: "85.0 %", "+12.3" (NPS points), "35 s"; in French with streams.formatting's numbers
    ("85,0 %", "+12,3", "1 234 s")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if french:
        digits = {"ratio": (value * 100, 1), "seconds": (value, 0), "points": (value, 1), "hours": (value, 1)}.get(
            unit, (value, 2)
        )
        text = formatting.number(abs(digits[0]) if unit == "points" else digits[0], digits[1], french=True)
        sign = ("−" if value < 0 else "+") if unit == "points" else ""
        return sign + text + {"ratio": " %", "seconds": " s", "hours": " h"}.get(unit, "")
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "points":
        return f"{value:+.1f}"
    if unit == "seconds":
        return f"{value:.0f} s"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:.2f}"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def collect(con: duckdb.DuckDBPyConnection) -> dict:
    data: dict = {
        "tiles": [],
        "week": None,
        "week_partial": False,
        "week_to_date": None,
        "latest_day": None,
        "nps_weeks": [],
        "channels": [],
        "pareto": [],
        "month": None,
        "alerts": [],
        "incidents": [],
        "digest": None,
    }
    if table_exists(con, "marts", "progress_dashboard"):
        data.update(_tiles(con))
    if table_exists(con, "marts", "kpi_experience_daily"):
        data["nps_weeks"] = _rows(
            con,
            """
            with weeks as (
                select cast(date_trunc('week', day) as date) as week, sum(nps_n) as n, sum(promoters) as p,
                       sum(detractors) as d
                from marts.kpi_experience_daily where channel = 'all' and touchpoint = 'all'
                group by all having sum(nps_n) > 0
            )
            select week, n, 100.0 * (p - d) / n as nps,
                   100 * 1.96 * sqrt(((p + .75) / (n + 3) + (d + .75) / (n + 3)
                                      - ((p + .75) / (n + 3) - (d + .75) / (n + 3)) ^ 2) / (n + 3)) as moe
            from weeks order by week""",
        )
        for w in data["nps_weeks"]:
            w["partial"] = data["latest_day"] is not None and w["week"] + timedelta(days=6) >= data["latest_day"]
    if table_exists(con, "marts", "kpi_service_daily") and data["week"] is not None:
        data["channels"] = _rows(
            con,
            """
            select channel, sum(offered) as offered, sum(answered) / sum(offered) as answer_rate,
                   sum(answered_in_target) / sum(offered) as service_level,
                   sum(answered_wait_s_sum) / nullif(sum(answered), 0) as asa_s,
                   sum(handle_s_sum) / nullif(sum(answered), 0) as aht_s,
                   1 - sum(repeated) / nullif(sum(answered), 0) as fcr_rate
            from marts.kpi_service_daily
            where queue = 'all' and channel <> 'all' and cast(date_trunc('week', day) as date) = ?
            group by channel order by offered desc""",
            [data["week"]],
        )
    if table_exists(con, "marts", "complaints_pareto"):
        month = con.execute("select max(month) from marts.complaints_pareto").fetchall()[0][0]
        data["month"] = month
        data["pareto"] = _rows(
            con,
            """
            select category, complaints, share, cumulative_share, vital_few, cost_eur
            from marts.complaints_pareto where month = ? order by rank""",
            [month],
        )
    if table_exists(con, "marts", "incidents"):
        data["incidents"] = _rows(
            con,
            """
            select incident_id, severity, root_scope, explained_share, alerts, headline, headline_fr, evidence,
                   cast(opened_at as varchar) as opened
            from marts.incidents where status = 'open'
            order by case severity when 'critical' then 0 when 'warning' then 1 else 2 end, opened_at desc""",
        )
        for incident in data["incidents"]:
            incident["findings"] = _rows(
                con,
                """select severity, rule, scope, message, message_fr from marts.alerts where incident_id = ?
                   order by rule = 'distribution_drift', scope""",
                [incident["incident_id"]],
            )
    if table_exists(con, "marts", "notifications"):
        digest = _rows(
            con,
            """select payload from marts.notifications where kind = 'digest'
               order by created_at desc, notification_id desc limit 1""",
        )
        data["digest"] = json.loads(digest[0]["payload"]) if digest else None
    if table_exists(con, "marts", "alerts"):
        data["alerts"] = _rows(
            con,
            """
            select severity, rule, scope, message, message_fr, evidence, cast(first_fired_at as varchar) as fired
            from marts.alerts where status = 'open'
            order by rule = 'detractor_complaint',
                     case severity when 'critical' then 0 when 'warning' then 1 else 2 end, first_fired_at desc
            limit 50""",
        )
    data.update(collect_dimensions(con, data["latest_day"]))
    annotate_incidents(con, data)  # who acknowledged or snoozed, French scopes, severities and dates
    data["levers"] = collect_levers(con)
    data["journey_view"] = collect_journeys(con)
    data.update(collect_verbatims(con))
    return data


def latest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    """The last day the daily marts hold: the dashboard's "as of" (a week containing it is not over)."""
    days = [
        con.execute(f"select max(day) from marts.{name}").fetchall()[0][0]  # noqa: S608 - a name of DAILY_MARTS
        for name in DAILY_MARTS
        if table_exists(con, "marts", name)
    ]
    days = [d for d in days if d is not None]
    return max(days) if days else None


def _tiles(con: duckdb.DuckDBPyConnection) -> dict:
    """Tiles of the last complete week (the last week with data before the one holding the latest day),
    each with the week to date beside it; when no week is complete yet, the tiles show the week to date,
    marked so."""
    latest = latest_day(con)
    if latest is None:
        return {}
    current = latest - timedelta(days=latest.weekday())
    rows = _rows(
        con,
        """
        select period_start, kpi, label_en, label_fr, value, target, status, trend, n, unit
        from marts.progress_dashboard
        where period_type = 'week' and scope = 'all' and period_start between ? and ?
        order by kpi, period_start""",
        [current - timedelta(days=7 * SPARK_WEEKS), current],
    )
    by_week: dict[date, dict[str, dict]] = {}
    for r in rows:
        by_week.setdefault(r["period_start"], {})[r["kpi"]] = r
    # the last week before the current one that holds data (normally the one just before it)
    week = max((start for start in by_week if start < current), default=current)
    tiles = []
    for kpi, r in sorted(by_week.get(week, {}).items()):
        partial = by_week.get(current, {}).get(kpi) if week != current else None
        spark = tuple(
            float(row["value"])
            for start, kpis in sorted(by_week.items())
            if start <= week and (row := kpis.get(kpi)) is not None and row["value"] is not None
        )
        tiles.append(
            Tile(
                kpi,
                r["label_en"],
                r["label_fr"],
                format_value(r["value"], r["unit"]),
                format_value(r["target"], r["unit"]),
                r["status"],
                r["trend"],
                r["n"],
                format_value(r["value"], r["unit"], french=True),
                format_value(r["target"], r["unit"], french=True),
                to_date_value=None if partial is None else format_value(partial["value"], partial["unit"]),
                to_date_n=None if partial is None else partial["n"],
                to_date_value_fr=None
                if partial is None
                else format_value(partial["value"], partial["unit"], french=True),
                spark=spark,
            )
        )
    return {
        "tiles": tiles,
        "week": week,
        "week_partial": week == current,
        "week_to_date": current if week != current else None,
        "latest_day": latest,
    }


def _spark_svg(values: tuple[float, ...], width: int = 150, height: int = 30) -> str:
    """A tile's trend line (its KPI over the complete weeks, oldest first); numbers only."""
    if len(values) < 2:
        return ""
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1.0
    step = (width - 8) / (len(values) - 1)
    points = [(4 + i * step, height - 4 - (v - lo) / span * (height - 8)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    x, y = points[-1]
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="trend over {len(values)} weeks"><polyline points="{line}" class="line"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" class="dot"/></svg>'
    )


def _nps_svg(weeks: list[dict], width: int = 720, height: int = 280) -> str:
    """Inline SVG: weekly NPS (points) with its 95 % band, a y axis in NPS points, the weeks on the x
    axis with the answers (n) of each, the week to date drawn hollow and labelled; numbers and dates
    only, so nothing to escape."""
    if not weeks:
        return ""
    left, right, top, bottom = 56, 40, 16, 56
    lows = [w["nps"] - w["moe"] for w in weeks]
    highs = [w["nps"] + w["moe"] for w in weeks]
    tick = 10 if max(highs) - min(lows) <= 60 else 25
    lo = max(-100, math.floor(min(lows) / tick) * tick)
    hi = min(100, math.ceil(max(highs) / tick) * tick)
    if hi <= lo:
        lo, hi = lo - tick, hi + tick
    step = (width - left - right) / max(len(weeks) - 1, 1)

    def x(i: int) -> float:
        return left + i * step

    def y(v: float) -> float:
        return top + (hi - max(lo, min(hi, v))) / (hi - lo) * (height - top - bottom)

    parts = [f'<svg id="nps-chart" viewBox="0 0 {width} {height}" role="img" aria-label="NPS by week">']
    for v in range(int(lo), int(hi) + 1, tick):
        label = f"{v:+d}" if v else "0"
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" class="tick" text-anchor="end">{label}</text>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" class="axis"/>'
        f'<line x1="{left}" x2="{width - right}" y1="{height - bottom}" y2="{height - bottom}" class="axis"/>'
        f'<text x="14" y="{(height - bottom + top) / 2:.0f}" class="axis-title" text-anchor="middle" '
        f'transform="rotate(-90 14 {(height - bottom + top) / 2:.0f})">NPS (points, −100…+100)</text>'
    )
    band = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(highs)) + " "
    band += " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in reversed(list(enumerate(lows))))
    complete = [i for i, w in enumerate(weeks) if not w.get("partial")]
    line = " ".join(f"{x(i):.1f},{y(weeks[i]['nps']):.1f}" for i in complete)
    parts.append(f'<polygon points="{band}" class="band"/><polyline points="{line}" class="line"/>')
    every = max(1, math.ceil(len(weeks) / 8))
    for i, w in enumerate(weeks):
        partial = bool(w.get("partial"))
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(w["nps"]):.1f}" r="4" class="{"point partial" if partial else "point"}">'
            f"<title>{w['week']}: NPS {w['nps']:+.1f} ± {w['moe']:.1f}, n = {w['n']}"
            f"{' (week to date)' if partial else ''}</title></circle>"
        )
        if i % every == 0 or i == len(weeks) - 1:
            label = f"{w['week']:%d/%m}" if isinstance(w["week"], date) else str(w["week"])
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 16}" class="tick" text-anchor="middle">'
                f"{label}{'*' if partial else ''}</text>"
                f'<text x="{x(i):.1f}" y="{height - bottom + 30}" class="tick n" text-anchor="middle">'
                f"n={w['n']}</text>"
            )
    parts.append(
        f'<text x="{width - right}" y="{height - 6}" class="axis-title" text-anchor="end">'
        "week starting (day/month; * week to date, partial)</text></svg>"
    )
    return "".join(parts)


def _both_languages(english: str, french: str) -> Markup:
    """A number in table cells: shown in the page's language like every label ("2,328" / "2 328")."""
    if english == french:
        return Markup.escape(english)
    return Markup('<span class="en">{}</span><span class="fr">{}</span>').format(english, french)


def render(con: duckdb.DuckDBPyConnection) -> str:
    template_text = resources.files("warehouse").joinpath("dashboard.html.j2").read_text()
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        # sections of other modules are template files of this package, included by name
        loader=jinja2.FunctionLoader(lambda name: resources.files("warehouse").joinpath(name).read_text()),
    )
    env.filters["pct"] = lambda v: _both_languages(format_value(v, "ratio"), format_value(v, "ratio", french=True))
    env.filters["secs"] = lambda v: _both_languages(format_value(v, "seconds"), format_value(v, "seconds", french=True))
    env.filters["num"] = lambda v, decimals=1: _both_languages(
        formatting.number(v, decimals), formatting.number(v, decimals, french=True)
    )
    env.filters["count"] = lambda v: _both_languages(formatting.count(v), formatting.count(v, french=True))
    env.filters["kpi"] = format_value
    env.filters["kpi_fr"] = lambda v, unit: format_value(v, unit, french=True)
    env.filters["spark"] = lambda values: Markup(_spark_svg(tuple(values)))  # numbers only
    env.globals["target_status_fr"] = formatting.TARGET_STATUS_FR
    env.filters["eur"] = lambda v: "–" if v is None else f"{v:,.0f} €".replace(",", "\u202f")
    data = collect(con)

    def link(evidence: str | None) -> str | None:
        return Path(evidence).as_uri() if evidence and Path(evidence).is_absolute() else None

    for alert in data["alerts"]:
        alert["link"] = link(alert["evidence"])
    for incident in data["incidents"]:
        incident["links"] = [u for u in (link(e) for e in incident["evidence"] or []) if u]
    chart = Markup(_nps_svg(data["nps_weeks"]))  # built from numbers only: nothing to escape
    return env.from_string(template_text).render(
        **data,
        nps_svg=chart,
        irritants_svg=Markup(irritants_svg(data["irritants"].get("all", []))),  # numbers only
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_dashboard(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    html = render(con)
    return write_atomically(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
