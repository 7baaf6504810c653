"""Emerging verbatim topics: a topic customers write about much more, or much more negatively, than before.

The same discipline as drift (quality/drift.py): the last `alert_current_days` against the
`alert_baseline_days` before, per scope (`all`, `channel:<name>`) and topic of the taxonomy; two
measures, each a share tested with the pooled two-proportion z-test of drift (statsmodels):

- `topic_mentions`: answers whose verbatim mentions the topic / answers with an analysed verbatim;
- `topic_negative_share`: mentions classed negative / mentions.

A finding fires when it rose (only a rise is news: a topic fading is not an incident), n >= MIN_N on
both sides (verbatim answers for the mentions, mentions for the negative share), q <= drift.ALPHA after
Benjamini-Hochberg across every topic, scope and measure tested this run, and the rise is at least
MIN_EFFECT (absolute) and, for mentions, at least MIN_RATIO times the baseline share. Findings become
rows of marts.alerts with rule `emerging_topic` (quality.alerts.apply), so incidents group them.
Example verbatims are added to the alert text only when config `verbatim_examples` is `alerts` or `all`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta

import duckdb

from cxpulse.config import Settings
from quality.alerts import Candidate, format_value
from quality.drift import ALPHA, Side, Test, Windows, benjamini_hochberg, proportion_test
from transforms.verbatims.analyse import analyser
from warehouse.db import table_exists
from warehouse.verbatim_examples import cut, quote

RULE = "emerging_topic"
# answers with a verbatim (mentions) and mentions (negative share) needed on each side of a test
MIN_N = {"topic_mentions": 200, "topic_negative_share": 30}
# smallest rise worth telling a CX lead: 3 points of verbatims (and x1.5) for mentions, 10 points of negatives
MIN_EFFECT = {"topic_mentions": 0.03, "topic_negative_share": 0.10}
MIN_RATIO = 1.5
EXAMPLES = 3

_SIDES = """
with answers as (
    select r.response_id, r.channel, a.topics, a.sentiment,
        case when r.occurred_at >= $current_start then 'current' else 'baseline' end as side
    from staging.verbatim_analysis as a
    inner join staging.stg_survey_responses as r on r.response_id = a.response_id
    where r.occurred_at >= $baseline_start and r.occurred_at < $as_of
),
scoped as (
    select 'all' as scope, * from answers
    union all select 'channel:' || channel, * from answers
),
totals as (
    select scope, side, count(*) as verbatims from scoped group by all
),
mentions as (
    select scope, side, unnest(topics) as topic, sentiment from scoped
),
per_topic as (
    select scope, side, topic, count(*) as mentions, count(*) filter (where sentiment = 'negative') as negatives
    from mentions group by all
)
select t.scope, t.side, k.topic, t.verbatims, coalesce(p.mentions, 0), coalesce(p.negatives, 0)
from totals as t
cross join (select distinct topic from per_topic) as k
left join per_topic as p on p.scope = t.scope and p.side = t.side and p.topic = k.topic
"""


@dataclass(frozen=True, kw_only=True)
class TopicTest(Test):
    """A drift test of one verbatim measure of one topic; its kpi is `<measure>:<topic>`, as its alerts say."""

    topic: str
    measure: str
    fires: bool = False
    reason: str = ""


def _decide(t: TopicTest) -> tuple[bool, str]:
    if min(t.current.n, t.baseline.n) < MIN_N[t.measure]:
        return False, f"n below min_n {MIN_N[t.measure]}"
    if t.q_value is None or t.q_value > ALPHA:
        return False, "not significant after Benjamini-Hochberg"
    if t.delta is None or t.delta < MIN_EFFECT[t.measure]:
        return False, f"rise below min_effect {MIN_EFFECT[t.measure]}"
    if t.measure == "topic_mentions" and (t.current_value or 0) < MIN_RATIO * (t.baseline_value or 0):
        return False, f"below {MIN_RATIO} x the baseline share"
    return True, "significant and material rise"


def detect(con: duckdb.DuckDBPyConnection, windows: Windows) -> list[TopicTest]:
    """Every (topic, measure, scope) tested, with whether it fires; BH across all of them."""
    if not table_exists(con, "staging", "verbatim_analysis"):
        return []
    params = {"as_of": windows.as_of, "current_start": windows.current_start, "baseline_start": windows.baseline_start}
    sides: dict[tuple[str, str, str], dict[str, Side]] = {}
    for scope, side, topic, verbatims, mentions, negatives in con.execute(_SIDES, params).fetchall():
        sides.setdefault((topic, "topic_mentions", scope), {})[side] = Side(int(verbatims), float(mentions))
        sides.setdefault((topic, "topic_negative_share", scope), {})[side] = Side(int(mentions), float(negatives))
    tests = []
    for (topic, measure, scope), by_side in sorted(sides.items()):
        cur, base = by_side.get("current", Side(0)), by_side.get("baseline", Side(0))
        current_value, baseline_value, p_value = proportion_test(cur, base)
        kpi = f"{measure}:{topic}"
        test = TopicTest(kpi, scope, cur, base, current_value, baseline_value, p_value, topic=topic, measure=measure)
        tests.append(test)
    eligible = [
        i for i, t in enumerate(tests) if t.p_value is not None and min(t.current.n, t.baseline.n) >= MIN_N[t.measure]
    ]
    q_values = benjamini_hochberg([tests[i].p_value for i in eligible])
    for i, q in zip(eligible, q_values, strict=True):
        tests[i] = dataclasses.replace(tests[i], q_value=q)
    out = []
    for t in tests:
        fires, reason = _decide(t)
        out.append(dataclasses.replace(t, fires=fires, reason=reason))
    return out


def examples(con: duckdb.DuckDBPyConnection, t: TopicTest, windows: Windows, limit: int = EXAMPLES) -> list[str]:
    """The most negative verbatims of the current window that mention the topic in the scope (personal data:
    only where config verbatim_examples allows)."""
    channel = t.scope.removeprefix("channel:") if t.scope.startswith("channel:") else None
    rows = con.execute(
        """
        select r.verbatim from staging.verbatim_analysis as a
        inner join staging.stg_survey_responses as r on r.response_id = a.response_id
        where r.occurred_at >= $current_start and r.occurred_at < $as_of and list_contains(a.topics, $topic)
            and ($channel is null or r.channel = $channel)
        order by a.sentiment_score, r.response_id limit $limit
        """,
        {
            "current_start": windows.current_start,
            "as_of": windows.as_of,
            "topic": t.topic,
            "channel": channel,
            "limit": limit,
        },
    ).fetchall()
    return [cut(v) for (v,) in rows]


def candidates(
    con: duckdb.DuckDBPyConnection, settings: Settings, windows: Windows, tests: list[TopicTest]
) -> list[Candidate]:
    """The alerts of the firing tests: warning, critical when the rise is twice the minimum effect."""
    topics = analyser().topics
    with_examples = settings.verbatim_examples in ("alerts", "all")
    period = f"{windows.current_start:%Y-%m-%d} to {(windows.as_of - timedelta(seconds=1)):%Y-%m-%d}"
    period_fr = f"du {windows.current_start:%d/%m/%Y} au {(windows.as_of - timedelta(seconds=1)):%d/%m/%Y}"
    out = []
    for t in tests:
        if not t.fires:
            continue
        known = topics.get(t.topic)
        en_label, fr_label = (known.label_en, known.label_fr) if known else (t.topic, t.topic)
        before, now = format_value(t.baseline_value, "ratio"), format_value(t.current_value, "ratio")
        before_fr, now_fr = format_value(t.baseline_value, "ratio", True), format_value(t.current_value, "ratio", True)
        if t.measure == "topic_mentions":
            en = (
                f"Emerging topic on {t.scope}: {en_label} is mentioned in {now} of verbatims "
                f"({int(t.current.a):,} of {t.current.n:,}) over {period}, against {before} in the baseline"
            )
            fr = (
                f"Sujet émergent sur {t.scope} : {fr_label} est cité dans {now_fr} des verbatims "
                f"({int(t.current.a)} sur {t.current.n}) {period_fr}, contre {before_fr} sur la période de référence"
            )
        else:
            en = (
                f"Emerging topic on {t.scope}: {now} of the {t.current.n:,} verbatims about {en_label} are negative "
                f"over {period}, against {before} in the baseline"
            )
            fr = (
                f"Sujet émergent sur {t.scope} : {now_fr} des {t.current.n} verbatims sur {fr_label} sont négatifs "
                f"{period_fr}, contre {before_fr} sur la période de référence"
            )
        en += f" (p = {t.p_value:.2g})."
        fr += f" (p = {t.p_value:.2g})."
        if with_examples:
            # quoted as warehouse.verbatim_examples says: `cxpulse forget` finds the copies by that form
            quoted = " / ".join(quote(v) for v in examples(con, t, windows))
            if quoted:
                en += f" Examples: {quoted}"
                fr += f" Exemples : {quoted}"
        out.append(
            Candidate(
                rule=RULE,
                severity="critical" if (t.delta or 0) >= 2 * MIN_EFFECT[t.measure] else "warning",
                kpi=t.kpi,
                scope=t.scope,
                window_start=windows.current_start,
                window_end=windows.as_of,
                baseline_value=t.baseline_value,
                current_value=t.current_value,
                n_current=t.current.n,
                n_baseline=t.baseline.n,
                p_value=t.p_value,
                message=en,
                message_fr=fr,
                dedupe_key=f"{RULE}|{t.kpi}|{t.scope}",
            )
        )
    return out
