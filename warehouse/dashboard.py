"""The continuous-progress dashboard as one self-contained HTML file (no network, no external asset).

Reads the published snapshot (or any warehouse connection): KPI tiles of the latest ISO week from
marts.progress_dashboard, open incidents first (each expandable to its findings and evidence), the
latest targets digest, the weekly NPS with its 95 % band, service KPIs by channel, the complaints Pareto
with its cost, and the open alerts (findings) for drill-down. Every text that comes from data is escaped by Jinja2's
autoescape; charts are inline SVG. English and French, switched in the page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import jinja2
from markupsafe import Markup

from streams import formatting
from streams.landing import write_atomically
from warehouse.dashboard_incidents import annotate as annotate_incidents
from warehouse.db import table_exists


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
        "nps_weeks": [],
        "channels": [],
        "pareto": [],
        "month": None,
        "alerts": [],
        "incidents": [],
        "digest": None,
    }
    if table_exists(con, "marts", "progress_dashboard"):
        latest = con.execute(
            "select max(period_start) from marts.progress_dashboard where period_type = 'week'"
        ).fetchall()[0][0]
        data["week"] = latest
        for r in _rows(
            con,
            """
                select kpi, label_en, label_fr, value, target, status, trend, n, unit
                from marts.progress_dashboard
                where period_type = 'week' and period_start = ? and scope = 'all' order by kpi""",
            [latest],
        ):
            data["tiles"].append(
                Tile(
                    r["kpi"],
                    r["label_en"],
                    r["label_fr"],
                    format_value(r["value"], r["unit"]),
                    format_value(r["target"], r["unit"]),
                    r["status"],
                    r["trend"],
                    r["n"],
                    format_value(r["value"], r["unit"], french=True),
                    format_value(r["target"], r["unit"], french=True),
                )
            )
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
    annotate_incidents(con, data)  # who acknowledged or snoozed, French scopes, severities and dates
    return data


def _nps_svg(weeks: list[dict], width: int = 640, height: int = 200) -> str:
    """Inline SVG: weekly NPS line with its 95 % band; numbers only, so nothing to escape."""
    if not weeks:
        return ""
    lows = [w["nps"] - w["moe"] for w in weeks]
    highs = [w["nps"] + w["moe"] for w in weeks]
    lo, hi = min(lows) - 5, max(highs) + 5
    step = (width - 40) / max(len(weeks) - 1, 1)

    def xy(i: int, v: float) -> str:
        return f"{20 + i * step:.1f},{height - 20 - (v - lo) / (hi - lo) * (height - 40):.1f}"

    band = (
        " ".join(xy(i, v) for i, v in enumerate(highs))
        + " "
        + " ".join(xy(i, v) for i, v in reversed(list(enumerate(lows))))
    )
    line = " ".join(xy(i, w["nps"]) for i, w in enumerate(weeks))
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="NPS">'
        f'<polygon points="{band}" class="band"/><polyline points="{line}" class="line"/></svg>'
    )


def render(con: duckdb.DuckDBPyConnection) -> str:
    template_text = resources.files("warehouse").joinpath("dashboard.html.j2").read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda v: format_value(v, "ratio")
    env.filters["secs"] = lambda v: format_value(v, "seconds")
    env.filters["kpi"] = format_value
    env.filters["kpi_fr"] = lambda v, unit: format_value(v, unit, french=True)
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
        **data, nps_svg=chart, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    )


def write_dashboard(con: duckdb.DuckDBPyConnection, out: Path) -> Path:
    html = render(con)
    return write_atomically(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
