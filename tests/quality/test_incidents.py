"""Incidents on simulated survey answers with known injected causes: one root cause, one incident, one
notification; a second real problem stays its own incident; reruns and recoveries say the right thing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cxpulse.config import Settings
from quality import alerts, incidents, notifications, wording
from quality.drift import RULES, Finding, Side, Windows, detect
from quality.drift import Test as DriftTest  # not a pytest class
from streams import alert_contract
from tests import builders
from tests.builders import SurveyAnswers, landed, staged_warehouse
from transforms.catalogue import load_catalogue

START = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = {"phone": 26, "chat": 26, "email": 26, "web": 26, "app": 26}  # NPS of each channel, points
TOUCHPOINTS = {c: [f"{c}_main", f"{c}_second"] for c in CHANNELS}
SEGMENTS = ["residential", "pro", "premium"]
SETTINGS = Settings()
MANAGED = set(RULES.values())


def weights(nps: float) -> list[float]:
    """P(score 0..10): 14 % detractors and 40 % promoters give NPS 26; other NPS move both by the same share."""
    shift = (26 - nps) / 200
    return [0.02 + shift / 7] * 7 + [0.15, 0.25] + [0.20 - shift / 2] * 2


def simulate(con, seed: int, *, days: int = 90, per_day: int = 600, drop: dict | None = None, mix=None) -> None:
    """drop = {"channel" or "segment": name, "from_day": d, "to_day": e, "points": p}; mix = (from_day,
    channel weights) moves answers between channels without changing any channel's scores."""
    rng = random.Random(seed)
    answers = SurveyAnswers(rng, seed, START)
    i = 0
    for day in range(days):
        channel_weights = mix[1] if mix and day >= mix[0] else [1] * len(CHANNELS)
        for _ in range(per_day):
            channel = rng.choices(list(CHANNELS), channel_weights)[0]
            segment = rng.choice(SEGMENTS)
            nps = CHANNELS[channel]
            if drop and drop["from_day"] <= day < drop.get("to_day", days):
                if drop.get("channel") == channel or drop.get("segment") == segment:
                    nps -= drop["points"]
            score = rng.choices(range(11), weights(nps))[0]
            answers.add(i, day, channel, TOUCHPOINTS[channel], segment, score)
            i += 1
    answers.insert(con)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    yield from staged_warehouse(tmp_path / "cx.duckdb")


def run(con, day: int) -> list[incidents.Transition]:
    """One quality run's drift part at START + day: findings -> alerts -> incidents -> notifications."""
    as_of = START + timedelta(days=day)
    windows = Windows.ending(as_of, 7, 28)
    findings = detect(con, SETTINGS, windows)
    alerts.apply(con, alerts.shift_candidates(findings, None), as_of, MANAGED)
    transitions = incidents.update(con, SETTINGS, windows, findings, as_of)
    notifications.record_incidents(con, transitions, as_of)
    return transitions


def test_one_channel_drop_is_one_incident_rooted_in_that_channel(con) -> None:
    simulate(con, seed=1, drop={"channel": "chat", "from_day": 83, "points": 15})
    transitions = run(con, 90)
    open_incidents = incidents.load(con, "status = 'open'")
    assert len(open_incidents) == 1 and [t.event for t in transitions] == ["opened"]
    incident = open_incidents[0]
    assert incident.root_scope in ("channel:chat", "touchpoint:chat_main", "touchpoint:chat_second")
    assert incident.root_scope == "channel:chat"  # both chat touchpoints fell: neither explains 80 % alone
    # chat is a fifth of the answers and fell 15 points: about 3 of the 3-point fall of all
    assert incident.explained_share is not None and 0.8 <= incident.explained_share <= 1.3
    assert incident.rate_share is not None and incident.rate_share > 0.8  # scores fell; the mix did not move
    unassigned = con.execute("select count(*) from marts.alerts where incident_id is null").fetchall()
    assert unassigned == [(0,)]
    assert incident.alerts == con.execute("select count(*) from marts.alerts").fetchall()[0][0] >= 2
    # one notification, not one per finding
    assert con.execute("select kind, event from marts.notifications").fetchall() == [("incident", "opened")]


def test_a_second_real_problem_on_a_segment_is_not_swallowed(con) -> None:
    # both causes at once: chat (all segments) and residential (all channels)
    drops = [
        {"channel": "chat", "from_day": 83, "points": 15},
        {"segment": "residential", "from_day": 83, "points": 12},
    ]
    simulate_both(con, seed=2, drops=drops)
    run(con, 90)
    roots = sorted(i.root_scope for i in incidents.load(con, "status = 'open'"))
    assert roots == ["channel:chat", "segment:residential"]


def simulate_both(con, seed: int, drops: list[dict]) -> None:
    """Two independent causes: an answer gets every drop that applies to it."""
    rng = random.Random(seed)
    rows = []
    for day in range(90):
        for _ in range(600):
            channel, segment = rng.choice(list(CHANNELS)), rng.choice(SEGMENTS)
            nps = CHANNELS[channel] - sum(
                d["points"]
                for d in drops
                if day >= d["from_day"]
                and channel == d.get("channel", channel)
                and segment == d.get("segment", segment)
            )
            score = rng.choices(range(11), weights(nps))[0]
            rows.append((day, channel, rng.choice(TOUCHPOINTS[channel]), segment, score, rng.randrange(86400)))
    answers = pa.table(  # noqa: F841 - read by DuckDB replacement scan below
        {
            "response_id": [f"r{i}" for i in range(len(rows))],
            "occurred_at": [START + timedelta(days=d, seconds=s) for d, *_, s in rows],
            "customer_id": [f"c{i}" for i in range(len(rows))],
            "channel": [r[1] for r in rows],
            "touchpoint": [r[2] for r in rows],
            "segment": [r[3] for r in rows],
            "survey": ["post_contact"] * len(rows),
            "nps": [r[4] for r in rows],
            **landed(len(rows), START),
        }
    )
    con.execute("insert into raw.surveys by name select * from answers")


def test_a_mix_shift_with_stable_channel_scores_is_one_incident_explained_by_the_mix(con) -> None:
    CHANNELS_MIX = {"phone": 40, "chat": 0, "email": 26, "web": 26, "app": 26}
    original = dict(CHANNELS)
    CHANNELS.update(CHANNELS_MIX)
    try:
        # from day 83 chat (NPS 0) gets 4 times its share of answers, phone (NPS 40) a quarter of it
        simulate(con, seed=5, mix=(83, [0.25, 4, 1, 1, 1]))
    finally:
        CHANNELS.update(original)
    run(con, 90)
    open_incidents = incidents.load(con, "status = 'open'")
    nps = [i for i in open_incidents if "nps" in i.kpis]
    assert len(nps) == 1
    assert nps[0].root_scope == "all" and nps[0].mix_share is not None and nps[0].mix_share > 0.8


def test_rerun_says_nothing_new_and_recovery_resolves_once(con) -> None:
    simulate(con, seed=3, days=130, drop={"channel": "chat", "from_day": 83, "to_day": 90, "points": 25})
    first = run(con, 90)
    assert [t.event for t in first] == ["opened"]
    assert run(con, 90) == []  # same as-of: the same incident, nothing to tell
    later = run(con, 130)
    assert [t.event for t in later] == ["resolved"]
    assert incidents.load(con, "status = 'open'") == []
    events = con.execute("select event from marts.notifications order by created_at").fetchall()
    assert events == [("opened",), ("resolved",)]


def test_french_notification_reads_as_french_end_to_end(con) -> None:
    simulate(con, seed=1, drop={"channel": "chat", "from_day": 83, "points": 15})
    run(con, 90)
    payload, message_fr = con.execute("select payload, message_fr from marts.notifications").fetchall()[0]
    notice = alert_contract.decode(payload.encode())
    assert isinstance(notice, alert_contract.IncidentNotice) and notice.message_fr == message_fr
    assert message_fr.startswith("Incident [critique] Net Promoter Score −")
    assert "sur le canal chat" in message_fr and "cause localisée : le canal chat" in message_fr
    assert "de l'évolution de l'ensemble des clients" in message_fr
    n = notice.findings[0].n_current
    assert f"{n:,}".replace(",", "\u202f") in message_fr or n < 1000
    assert " all " not in message_fr and "channel:" not in message_fr
    assert "," in message_fr.split("points")[0]  # decimal comma: "−15,2 points"


def test_residual_sides_of_contact_kpis_leave_the_root_out_and_count_customers(con) -> None:
    """all minus channel:chat over 4 answered contacts: phone 2 by customer a (100 s, 300 s), email 1 by
    b (200 s) in the current window; chat 1 (900 s) left out. By hand: n 3, sum 600, sum of squares
    140,000; customers 2; per customer sums 400 and 200 -> yy 200,000, yn 400*2 + 200*1 = 1,000, nn 5."""
    as_of = START + timedelta(days=40)
    rows = [("phone", "a", 100.0), ("phone", "a", 300.0), ("email", "b", 200.0), ("chat", "c", 900.0)]
    n = len(rows)
    contacts = pa.table(  # noqa: F841 - read by DuckDB replacement scan below
        {
            "event_id": [f"e{i}" for i in range(n)],
            "event_type": ["contact"] * n,
            "occurred_at": [as_of - timedelta(days=1, hours=i) for i in range(n)],
            "customer_id": [c for _, c, _ in rows],
            "contact_id": [f"ct{i}" for i in range(n)],
            "channel": [ch for ch, _, _ in rows],
            "touchpoint": [f"{ch}_main" for ch, _, _ in rows],
            "outcome": ["answered"] * n,
            "wait_s": [10.0] * n,
            "talk_s": [h for _, _, h in rows],
            "hold_s": [0.0] * n,
            "acw_s": [0.0] * n,
            "reason": ["billing"] * n,
            **landed(n, START),
        }
    )
    con.execute("insert into raw.touchpoints by name select * from contacts")
    windows = Windows.ending(as_of, 7, 28)
    current, baseline = incidents.residual_sides(con, SETTINGS, "aht_s", "all", "channel:chat", windows)
    assert (current.n, current.a, current.b) == (3, 600.0, 140_000.0)
    assert (current.clusters, current.yy, current.yn, current.nn) == (2, 200_000.0, 1_000.0, 5.0)
    assert baseline.n == 0
    current, _ = incidents.residual_sides(con, SETTINGS, "service_level", "channel:phone", "segment:x", windows)
    assert (current.n, current.a) == (2, 2.0)  # no segment on these contacts: nothing is left out


def test_headline_names_the_service_levers_that_moved_with_it() -> None:
    def finding(kpi: str, scope: str, before: float, after: float) -> alerts.Candidate:
        return builders.finding(
            kpi, scope, (before, after, 1234, 5000), severity="critical", dedupe_key=f"{kpi}|{scope}"
        )

    shifts = [
        finding("nps", "touchpoint:billing_hotline", 20.0, 5.0),
        finding("service_level", "touchpoint:billing_hotline", 0.80, 0.42),
        finding("service_level", "all", 0.80, 0.71),
        finding("answer_rate", "channel:phone", 0.92, 0.85),
    ]
    root = incidents.Root("touchpoint:billing_hotline", "channel:phone", 0.9, 0.9, 0.0)
    group = incidents.Group(root, "nps", shifts)
    en, fr = wording.headline(group, shifts, incidents.LEVERS)
    assert en.startswith(
        "Net Promoter Score −15.0 points on touchpoint billing_hotline (20.0 points → 5.0 points, 1,234 answers "
        "against 5,000 in the baseline); root: touchpoint billing_hotline, which explains 90 % of the change on "
        "the phone channel"
    )
    # one figure per lever, the root's own when it moved there
    assert en.endswith(
        "Service levers that moved: Answer rate −7.0 pts (the phone channel), "
        "Service level (answered within 20 s) −38.0 pts."
    )
    assert "Leviers de service qui ont bougé : Niveau de service (décroché en 20 s) −38,0 pts, " in fr
    assert "1\u202f234 réponses contre 5\u202f000 sur la période de référence" in fr


def test_an_incident_that_worsens_is_told_once_more(con) -> None:
    """Day 86: 3 of the 7 current days carry a 15-point chat drop (about -6: a warning); day 90: all 7
    do (critical). The same incident, one message when it opens and one when its severity changes."""
    simulate(con, seed=4, per_day=2500, drop={"channel": "chat", "from_day": 83, "points": 15})
    first = run(con, 86)
    assert [(t.event, t.incident.severity) for t in first] == [("opened", "warning")]
    second = run(con, 90)
    assert [(t.event, t.incident.severity) for t in second] == [("severity_changed", "critical")]
    assert second[0].incident.incident_id == first[0].incident.incident_id
    assert len(incidents.load(con)) == 1


def test_a_segment_that_fell_only_by_the_channel_mix_is_not_the_root() -> None:
    """Answers moved from phone (NPS 30) to chat (NPS 0), both stable. Residential, 90 % of the answers, fell
    with the total (its own channel mix moved): 95 % of the change of `all` as a rate, and it fires. The
    channels' mix explains the whole change, so the root is `all`, explained by the mix, not the segment."""
    kpi = load_catalogue()["nps"]
    windows = Windows.ending(START + timedelta(days=90), 7, 28)

    def finding(scope: str, n_base: int, v_base: float, n_cur: int, v_cur: float) -> Finding:
        test = DriftTest("nps", scope, Side(n_cur), Side(n_base), v_cur, v_base, 1e-6)
        return Finding(test, kpi, True, "significant and material", windows)

    tested = {
        "all": finding("all", 4_000, 21.0, 1_000, 9.6),
        "channel:chat": finding("channel:chat", 1_200, 0.0, 700, 0.0),
        "channel:phone": finding("channel:phone", 2_800, 30.0, 300, 30.0),
        "segment:residential": finding("segment:residential", 3_600, 21.0, 900, 9.0),
        "segment:pro": finding("segment:pro", 400, 21.0, 100, 15.0),
    }
    firing = {"all", "segment:residential"}
    root = incidents.localise(tested["all"], tested, firing, {})
    assert root.scope == "all" and root.mix_share is not None and root.mix_share > 0.9
    # the same fall of the segment with the channel mix unchanged is the segment's own: it is the root
    tested["channel:chat"] = finding("channel:chat", 1_200, 0.0, 300, -12.0)
    tested["channel:phone"] = finding("channel:phone", 2_800, 30.0, 700, 13.0)
    assert incidents.localise(tested["all"], tested, firing, {}).scope == "segment:residential"
