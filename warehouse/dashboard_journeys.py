"""The journey view (dashboard section and `cxpulse journeys`): per journey, the funnel of its steps with the
drop-off after each, the emotional curve (share of negative emotions in the answers about each step) and
the moments of truth highlighted, from marts.journey_steps.

Which period: the last complete one (its end on or before today, UTC) of the chosen type, else the period
to date, marked as such. A step is a moment of truth when its moment_of_truth (the journey's later NPS when
the step failed minus when it went well) is at most MOMENT_OF_TRUTH_POINTS; a rupture is flagged from the
latest week (the rupture alerts' week). Charts are inline SVG with axes, units and n; every text from data
is escaped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
from markupsafe import Markup, escape

from warehouse.db import table_exists

# A failed step that costs at least this many NPS points on the journey's later answers is highlighted.
MOMENT_OF_TRUTH_POINTS = -20.0
_LENGTH = {
    "week": lambda d: d + timedelta(days=7),
    "month": lambda d: (d.replace(day=28) + timedelta(days=4)).replace(day=1),
}


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> list[dict]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def collect_journeys(
    con: duckdb.DuckDBPyConnection, period_type: str = "month", scope: str = "all", today: date | None = None
) -> dict:
    """{period_type, period_start, complete, journeys: [{journey, label_en, label_fr, steps: [...], svg}]}."""
    out: dict = {"period_type": period_type, "period_start": None, "complete": False, "journeys": []}
    if period_type not in _LENGTH:
        raise ValueError(f"period must be week or month, got {period_type!r}")
    if not table_exists(con, "marts", "journey_steps"):
        return out
    today = today or datetime.now(UTC).date()
    starts = [
        r[0]
        for r in con.execute(
            "select distinct period_start from marts.journey_steps where period_type = ? order by period_start desc",
            [period_type],
        ).fetchall()
    ]
    if not starts:
        return out
    complete = [s for s in starts if _LENGTH[period_type](s) <= today]
    out["period_start"], out["complete"] = (complete[0], True) if complete else (starts[0], False)
    rows = _rows(
        con,
        """
        with latest_week as (
            select journey, step, rupture from marts.journey_steps
            where period_type = 'week' and period_start = (
                select max(period_start) from marts.journey_steps where period_type = 'week')
        )
        select s.*, coalesce(w.rupture, false) as rupture_latest_week
        from marts.journey_steps as s
        left join latest_week as w using (journey, step)
        where s.period_type = ? and s.period_start = ? and (? = 'all' or s.journey = ?)
        order by s.journey, s.step_order nulls last, s.entered desc, s.step""",
        [period_type, out["period_start"], scope, scope],
    )
    by_journey: dict[str, dict] = {}
    for r in rows:
        r["moment"] = r["moment_of_truth"] is not None and r["moment_of_truth"] <= MOMENT_OF_TRUTH_POINTS
        j = by_journey.setdefault(
            r["journey"],
            {
                "journey": r["journey"],
                "label_en": r.get("journey_label_en") or r["journey"],
                "label_fr": r.get("journey_label_fr") or r["journey"],
                "steps": [],
            },
        )
        j["steps"].append(r)
    for j in by_journey.values():
        j["svg"] = Markup(journey_svg(j["steps"]))
    out["journeys"] = list(by_journey.values())
    return out


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v * 100:.0f} %"


def journey_svg(steps: list[dict], width: int = 760, height: int = 300) -> str:
    """Funnel bars (journeys entered, left axis) with the drop-off under each, and the emotional curve (share
    of negative emotions among the answers about the step, right axis, with its n); moments of truth and
    ruptures outlined in red. Step labels are escaped; everything else is numbers."""
    if not steps:
        return ""
    left, right, top, bottom = 64, 64, 24, 78
    plot_w, plot_h = width - left - right, height - top - bottom
    top_n = max(s["entered"] for s in steps) or 1
    slot = plot_w / len(steps)
    bar_w = min(70.0, slot * 0.6)

    def y_count(v: float) -> float:
        return top + plot_h - v / top_n * plot_h

    def y_share(v: float) -> float:
        return top + plot_h - v * plot_h

    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" class="journey" aria-label="journey funnel">']
    # axes: left journeys entered (count), right negative emotions (%), x the steps in order
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>'
        f'<line x1="{left + plot_w}" y1="{top}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>'
    )
    for frac in (0, 0.5, 1):
        y = top + plot_h - frac * plot_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{round(top_n * frac):,}</text>'
            f'<text x="{left + plot_w + 6}" y="{y + 4:.1f}" class="tick">{frac * 100:.0f} %</text>'
        )
    parts.append(
        f'<text x="12" y="{top + plot_h / 2:.0f}" class="axis-title" transform="rotate(-90 12 {top + plot_h / 2:.0f})"'
        ' text-anchor="middle"><tspan class="en">journeys entered (n)</tspan>'
        '<tspan class="fr">parcours entrés (n)</tspan></text>'
        f'<text x="{width - 10}" y="{top + plot_h / 2:.0f}" class="axis-title emotion" text-anchor="middle"'
        f' transform="rotate(90 {width - 10} {top + plot_h / 2:.0f})"><tspan class="en">negative emotions (%)</tspan>'
        '<tspan class="fr">émotions négatives (%)</tspan></text>'
    )
    curve = []
    for i, s in enumerate(steps):
        cx = left + slot * (i + 0.5)
        y = y_count(s["entered"])
        flagged = " moment" if s["moment"] else ""
        flagged += " rupture" if s.get("rupture_latest_week") else ""
        parts.append(
            f'<rect x="{cx - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{top + plot_h - y:.1f}"'
            f' class="funnel{flagged}"><title>{s["entered"]:,}</title></rect>'
            f'<text x="{cx:.1f}" y="{y - 4:.1f}" class="count" text-anchor="middle">{s["entered"]:,}</text>'
            f'<text x="{cx:.1f}" y="{top + plot_h + 16}" class="step" text-anchor="middle">'
            f'<tspan class="en">{escape(s["label_en"])}</tspan><tspan class="fr">{escape(s["label_fr"])}</tspan></text>'
            f'<text x="{cx:.1f}" y="{top + plot_h + 32}" class="drop" text-anchor="middle">'
            f'<tspan class="en">drop-off {_pct(s["drop_off_rate"])}</tspan>'
            f'<tspan class="fr">abandon {_pct(s["drop_off_rate"])}</tspan></text>'
        )
        if s["moment"]:
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 48}" class="mot" text-anchor="middle">'
                f'<tspan class="en">moment of truth {s["moment_of_truth"]:+.0f} pts</tspan>'
                f'<tspan class="fr">moment de vérité {s["moment_of_truth"]:+.0f} pts</tspan></text>'
                f'<text x="{cx:.1f}" y="{top + plot_h + 62}" class="tick" text-anchor="middle">'
                f"n = {s['mot_n_failed']} / {s['mot_n_ok']}</text>"
            )
        if s["negative_emotion_rate"] is not None:
            curve.append((cx, y_share(s["negative_emotion_rate"]), s["emotion_n"]))
    if curve:
        parts.append('<polyline class="emotion" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in curve) + '"/>')
        for x, y, n in curve:
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="emotion"/>'
                f'<text x="{x + 7:.1f}" y="{y - 6:.1f}" class="tick emotion">n = {n}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def funnel_text(data: dict, french: bool = False) -> str:
    """The funnel as text for the terminal (`cxpulse journeys`)."""
    if data["period_start"] is None:
        return "pas encore de parcours" if french else "no journeys yet"
    kind = {"week": ("week", "semaine"), "month": ("month", "mois")}[data["period_type"]][1 if french else 0]
    status = "" if data["complete"] else (" (en cours)" if french else " (to date)")
    lines = [f"{'Parcours' if french else 'Journeys'}, {kind} {data['period_start']}{status}"]
    header = (
        ("étape", "entrés", "ok", "échecs", "abandons", "poursuivis", "abandon", "NPS", "émo. nég.", "moment de vérité")
        if french
        else (
            "step",
            "entered",
            "ok",
            "failed",
            "abandoned",
            "continued",
            "drop-off",
            "NPS",
            "neg. emo.",
            "moment of truth",
        )
    )
    for j in data["journeys"]:
        lines += ["", f"{j['label_fr'] if french else j['label_en']} ({j['journey']})"]
        lines.append(f"  {header[0]:<26}" + "".join(f"{h:>11}" for h in header[1:9]) + f"  {header[9]}")
        for s in j["steps"]:
            nps = "–" if s["nps"] is None else f"{s['nps']:+.0f} (n {s['nps_n']})"
            mot = (
                "–"
                if s["moment_of_truth"] is None
                else f"{s['moment_of_truth']:+.0f} pts (n {s['mot_n_failed']}/{s['mot_n_ok']})"
            )
            marks = (" ◆" if s["moment"] else "") + (" RUPTURE" if s["rupture_latest_week"] else "")
            label = s["label_fr"] if french else s["label_en"]
            lines.append(
                f"  {s['step_order'] or '·'} {label[:23]:<24}"
                + "".join(f"{v:>11,}" for v in (s["entered"], s["ok"], s["failed"], s["abandoned"], s["continued"]))
                + f"{_pct(s['drop_off_rate']):>11}{nps:>11}{_pct(s['negative_emotion_rate']):>11}  {mot}{marks}"
            )
    lines += [
        "",
        "◆ moment de vérité ; RUPTURE : abandon ou échecs en hausse significative (dernière semaine)"
        if french
        else "◆ moment of truth; RUPTURE: drop-off or failures significantly up (latest week)",
    ]
    return "\n".join(lines)
