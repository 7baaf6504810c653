"""The dashboard's "top irritants" section: what customers write about most negatively, per channel, with trend.

From marts.verbatim_topics_daily (aggregates, in the published snapshot): for the latest ISO week with
verbatims, per channel ('all' first) the topics ranked by volume x negativity, that is mentions x
negative_share = the negative mentions, with the week before for the trend. Example verbatims (personal
data) only when config `verbatim_examples` is `dashboard` or `all` AND the connection holds the
analysed answers (the live warehouse; the published snapshot holds no verbatim).
"""

from __future__ import annotations

import duckdb

from cxpulse.config import load_settings
from warehouse.db import table_exists
from warehouse.verbatim_examples import cut

TOP = 5
EXAMPLES = 2

_IRRITANTS = """
with weeks as (
    select cast(date_trunc('week', day) as date) as week, channel, topic, any_value(label_en) as label_en,
        any_value(label_fr) as label_fr, sum(mentions) as mentions, sum(negatives) as negatives
    from marts.verbatim_topics_daily
    where language = 'all' and day >= $week - 7 and day < $week + 7
    group by all
),
now as (select * from weeks where week = $week),
before as (select * from weeks where week = $week - 7)
select n.channel, n.topic, n.label_en, n.label_fr, n.mentions, n.negatives, n.negatives / n.mentions as negative_share,
    b.mentions as mentions_before, b.negatives / b.mentions as negative_share_before,
    row_number() over (partition by n.channel order by n.negatives desc, n.mentions desc, n.topic) as rank
from now as n left join before as b on b.channel = n.channel and b.topic = n.topic
qualify rank <= $top
order by n.channel <> 'all', n.channel, rank
"""


def _trend(now: int, before: int | None) -> str:
    if not before:
        return "new"
    ratio = now / before
    return "up" if ratio >= 1.2 else "down" if ratio <= 1 / 1.2 else "flat"


def _examples(con: duckdb.DuckDBPyConnection, week: object, channel: str, topic: str) -> list[str]:
    rows = con.execute(
        """
        select r.verbatim from staging.verbatim_analysis as a
        inner join staging.stg_survey_responses as r on r.response_id = a.response_id
        where r.day >= $week and r.day < $week + 7 and list_contains(a.topics, $topic) and a.sentiment = 'negative'
            and ($channel = 'all' or r.channel = $channel)
        order by a.sentiment_score, r.response_id limit $n""",
        {"week": week, "topic": topic, "channel": channel, "n": EXAMPLES},
    ).fetchall()
    return [cut(v) for (v,) in rows]  # quoted « ... » by the template, as warehouse.verbatim_examples.quote


def collect_verbatims(con: duckdb.DuckDBPyConnection, examples: bool | None = None) -> dict:
    """{'irritant_week': date | None, 'irritants': {channel: [rows]}, 'irritant_examples': bool}.
    `examples`: None = as config verbatim_examples says."""
    data: dict = {"irritant_week": None, "irritants": {}, "irritant_examples": False}
    if not table_exists(con, "marts", "verbatim_topics_daily"):
        return data
    week = con.execute("select cast(date_trunc('week', max(day)) as date) from marts.verbatim_topics_daily").fetchall()[
        0
    ][0]
    if week is None:
        return data
    if examples is None:
        examples = load_settings().verbatim_examples in ("dashboard", "all")
    examples = bool(examples) and table_exists(con, "staging", "verbatim_analysis")
    cursor = con.execute(_IRRITANTS, {"week": week, "top": TOP})
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        row["score"] = row["negatives"]  # volume x negativity = mentions x negative_share
        row["trend"] = _trend(row["mentions"], row["mentions_before"])
        row["examples"] = _examples(con, week, row["channel"], row["topic"]) if examples else []
        data["irritants"].setdefault(row["channel"], []).append(row)
    data["irritant_week"] = week
    data["irritant_examples"] = examples
    return data


def irritants_svg(rows: list[dict], width: int = 640, bar_height: int = 22) -> str:
    """Inline SVG: one bar per irritant, length = negative mentions, a lighter bar for all its mentions.
    Numbers and fixed shapes only (labels are in the table beside it), so nothing to escape."""
    if not rows:
        return ""
    top = max(r["mentions"] for r in rows) or 1
    height = bar_height * len(rows) + 10
    bars = []
    for i, r in enumerate(rows):
        y = 5 + i * bar_height
        bars.append(
            f'<rect x="10" y="{y}" width="{(width - 20) * r["mentions"] / top:.1f}" height="{bar_height - 6}" '
            f'class="mentions"/><rect x="10" y="{y}" width="{(width - 20) * r["negatives"] / top:.1f}" '
            f'height="{bar_height - 6}" class="negatives"/>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="irritants">'
        "<style>.mentions{fill:#bee3f8}.negatives{fill:#c53030}</style>" + "".join(bars) + "</svg>"
    )
