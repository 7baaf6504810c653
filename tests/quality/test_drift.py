"""Drift alerts on simulated survey answers with known injected drifts: they fire exactly when they should."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cxpulse.config import Settings
from quality import alerts
from quality.drift import (
    RULES,
    Side,
    Windows,
    benjamini_hochberg,
    design_effect,
    detect,
    nps_test,
    proportion_test,
    welch_test,
)
from tests.builders import SurveyAnswers, landed, staged_warehouse

START = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = ["phone", "chat", "email", "web", "app"]
TOUCHPOINTS = {c: [f"{c}_main", f"{c}_second"] for c in CHANNELS}  # 10 touchpoints
SEGMENTS = ["residential", "pro", "premium"]
BASE_NPS = [0.02] * 7 + [0.15, 0.25] + [0.20, 0.20]  # P(score 0..10): promoters .40, detractors .14 -> NPS 26
MANAGED = set(RULES.values())


def drop_nps(weights: list[float], points: float) -> list[float]:
    """Move `points`/2 % of answers from promoters to detractors: NPS falls by `points`."""
    shift = points / 200
    w = list(weights)
    w[9] -= shift / 2
    w[10] -= shift / 2
    w[0] += shift / 2
    w[3] += shift / 2
    return w


def simulate(
    con,
    seed: int,
    days: int = 90,
    per_day: int = 600,
    drift: dict | None = None,
    tiny: list[tuple[int, int]] | None = None,
) -> None:
    """Survey answers for `days` days. drift = {"channel": "chat", "from_day": d, "to_day": e, "points": 15}."""
    rng = random.Random(seed)
    answers = SurveyAnswers(rng, seed, START)

    def add(i: int, day: int, channel: str, touchpoint: str, segment: str, weights: list[float]) -> None:
        answers.add(i, day, channel, touchpoint, segment, rng.choices(range(11), weights)[0])

    i = 0
    for day in range(days):
        for _ in range(per_day):
            channel = rng.choice(CHANNELS)
            weights = BASE_NPS
            if drift and channel == drift["channel"] and drift["from_day"] <= day < drift.get("to_day", days):
                weights = drop_nps(BASE_NPS, drift["points"])
            add(i, day, channel, rng.choice(TOUCHPOINTS[channel]), rng.choice(SEGMENTS), weights)
            i += 1
    for day, count in tiny or []:  # a small segment whose few answers swing wildly
        for _ in range(count):
            add(i, day, "web", "web_main", "vip", [1] + [0] * 10)
            i += 1
    answers.insert(con)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    yield from staged_warehouse(tmp_path / "cx.duckdb")


SETTINGS = Settings()


def fired(con, as_of: datetime) -> list:
    windows = Windows.ending(as_of, 7, 28)
    return [f for f in detect(con, SETTINGS, windows) if f.fires]


def test_fifteen_point_nps_drop_in_one_channel_is_detected_on_the_first_run_after_onset(con) -> None:
    simulate(con, seed=1, drift={"channel": "chat", "from_day": 83, "points": 15})
    as_of = START + timedelta(days=90)  # first full current window after onset (days 83-89)
    findings = fired(con, as_of)
    keys = {(f.test.kpi, f.test.scope) for f in findings}
    assert ("nps", "channel:chat") in keys
    chat = next(f for f in findings if (f.test.kpi, f.test.scope) == ("nps", "channel:chat"))
    assert chat.test.current.n >= 100 and chat.test.baseline.n >= 100
    assert -25 < chat.test.delta < -8
    assert not any(f.test.scope.startswith("channel:") and f.test.scope != "channel:chat" for f in findings)
    # the day before the drift started, nothing fires
    assert fired(con, START + timedelta(days=83)) == []


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_ninety_stable_days_over_twenty_scopes_raise_nothing(con, seed: int) -> None:
    simulate(con, seed=seed)
    windows = Windows.ending(START + timedelta(days=90), 7, 28)
    findings = detect(con, SETTINGS, windows)
    scopes = {f.test.scope for f in findings if f.test.kpi == "nps"}
    assert len(scopes) >= 19  # all, 5 channels, 10 touchpoints, 3 segments
    assert [f for f in findings if f.fires] == []


def test_dramatic_swing_on_seven_answers_raises_nothing(con) -> None:
    simulate(con, seed=3, tiny=[(85, 7)])  # segment vip: 7 answers, all scoring 0, only in the current window
    findings = detect(con, SETTINGS, Windows.ending(START + timedelta(days=90), 7, 28))
    vip = next(f for f in findings if f.test.kpi == "nps" and f.test.scope == "segment:vip")
    assert vip.test.current.n == 7 and vip.test.current_value == -100
    assert not vip.fires and "min_n" in vip.reason


def test_rerun_never_duplicates_and_recovery_resolves(con) -> None:
    simulate(con, seed=2, days=130, drift={"channel": "chat", "from_day": 83, "to_day": 90, "points": 25})
    as_of = START + timedelta(days=90)
    windows = Windows.ending(as_of, 7, 28)
    first = alerts.apply(con, alerts.shift_candidates(detect(con, SETTINGS, windows), None), as_of, MANAGED)
    assert first.opened
    again = alerts.apply(con, alerts.shift_candidates(detect(con, SETTINGS, windows), None), as_of, MANAGED)
    assert again.opened == [] and sorted(again.refreshed) == sorted(first.opened)
    assert con.execute("select count(*) from marts.alerts").fetchall() == [(len(first.opened),)]
    row = con.execute(
        "select message, message_fr, n_current, n_baseline, status from marts.alerts "
        "where dedupe_key = 'nps_shift|nps|channel:chat'"
    ).fetchall()[0]
    message, message_fr, n_current, n_baseline, status = row
    assert status == "open" and n_current >= 100 and n_baseline >= 400
    assert (
        message.startswith("Net Promoter Score on channel:chat fell from ") and f"on {n_current:,} answers" in message
    )
    assert "in the 28 days before" in message and "en baisse, de " in message_fr
    # 5 weeks later the chat is back to normal and the baseline no longer holds the drift: resolved
    later = START + timedelta(days=130)
    lw = Windows.ending(later, 7, 28)
    changes = alerts.apply(con, alerts.shift_candidates(detect(con, SETTINGS, lw), None), later, MANAGED)
    assert set(first.opened) <= set(changes.resolved)
    assert con.execute("select count(*) from marts.alerts where status = 'open'").fetchall() == [(0,)]


def test_statistics_against_independent_formulas() -> None:
    # two-proportion z-test: 60/100 vs 45/100 -> pooled .525, se = sqrt(.525*.475*(2/100)) = .070622, z = 2.1240
    _, _, p = proportion_test(Side(100, 60), Side(100, 45))
    assert abs(p - 0.03367) < 1e-4
    # Welch: n=3 values 1,2,3 (sum 6, sumsq 14) vs n=3 values 4,5,6 (15, 77): t = -3/sqrt(2/3) = -3.674, dof 4
    _, _, p = welch_test(Side(3, 6, 14), Side(3, 15, 77))
    assert abs(p - 0.02131) < 1e-4
    # NPS: identical samples -> p = 1
    assert nps_test(Side(200, 80, 30), Side(400, 160, 60))[2] == pytest.approx(1.0)
    # Benjamini-Hochberg on [0.01, 0.04, 0.03, 0.5]: sorted .01,.03,.04,.5 -> q = .04, .0533, .0533, .5
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.5])


def test_fcr_compares_only_days_whose_repeat_window_is_closed(con) -> None:
    """A stable FCR of ~70 %: the newest days have not had time for their repeats yet and look
    better. Compared over the last 7 days that would be a 'FCR rose' alert that is not real."""
    from transforms.runner import build

    rng = random.Random(3)
    rows: dict[str, list] = {k: [] for k in ("event_id", "occurred_at", "customer_id", "contact_id", "wait_s")}

    def contact(at: datetime, customer: str) -> None:
        n = len(rows["event_id"])
        rows["event_id"].append(f"e{n}")
        rows["occurred_at"].append(at)
        rows["customer_id"].append(customer)
        rows["contact_id"].append(f"ct{n}")
        rows["wait_s"].append(float(rng.randrange(60)))

    days = 60
    for day in range(days):
        for k in range(300):
            at = START + timedelta(days=day, hours=9, minutes=rng.randrange(480))
            customer = f"c{day}-{k}"
            contact(at, customer)
            if rng.random() < 0.3:  # not resolved: the customer calls back 1 to 5 days later
                contact(at + timedelta(days=rng.uniform(1, 5)), customer)
    n = len(rows["event_id"])
    contacts = pa.table(  # noqa: F841 - read by DuckDB replacement scan below
        {
            **rows,
            "event_type": ["contact"] * n,
            "channel": ["phone"] * n,
            "touchpoint": ["phone_main"] * n,
            "outcome": ["answered"] * n,
            "talk_s": [200.0] * n,
            "hold_s": [0.0] * n,
            "acw_s": [30.0] * n,
            "reason": ["billing"] * n,
            **landed(n, START),
        }
    )
    con.execute(
        "insert into raw.touchpoints by name select * from contacts where occurred_at < ?",
        [START + timedelta(days=days)],
    )
    build(con, SETTINGS, full=True)
    as_of = START + timedelta(days=days)

    def fcr(first_day: int, last_day: int) -> float:
        answered, repeated = con.execute(
            "select sum(answered), sum(repeated) from marts.kpi_service_daily "
            "where channel = 'all' and day between ? and ?",
            [(START + timedelta(days=first_day)).date(), (START + timedelta(days=last_day)).date()],
        ).fetchall()[0]
        return 1 - repeated / answered

    naive_current, naive_baseline = fcr(days - 7, days - 1), fcr(days - 35, days - 8)
    assert naive_current - naive_baseline > 0.05  # the censoring bias is real and large...
    findings = [f for f in detect(con, SETTINGS, Windows.ending(as_of, 7, 28)) if f.test.kpi == "fcr_rate"]
    assert findings and not any(f.fires for f in findings)  # ...and raises nothing
    overall = next(f for f in findings if f.test.scope == "all")
    assert overall.windows.as_of == as_of - timedelta(hours=SETTINGS.fcr_window_h)
    assert abs(overall.test.current_value - overall.test.baseline_value) < 0.03


def test_adjusted_wald_nps_test_against_an_independent_computation() -> None:
    # adjusted Wald (docs/alerts.md):
    # n' = n + 3, p' = (promoters + .75)/n', d' = (detractors + .75)/n', var = (p' + d' - (p' - d')^2)/n'.
    # current 80 promoters, 30 detractors of 200 (NPS 25); baseline 100 and 100 of 400 (NPS 0), by hand:
    var_c = ((80.75 / 203) + (30.75 / 203) - ((80.75 - 30.75) / 203) ** 2) / 203  # 0.00240687
    var_b = (0.25 + 0.25 - 0.0) / 403  # 0.00124069
    z = 0.25 / math.sqrt(var_c + var_b)  # 4.1394
    expected = math.erfc(z / math.sqrt(2))  # two-sided normal p, without scipy
    nps_c, nps_b, p = nps_test(Side(200, 80, 30), Side(400, 100, 100))
    assert (nps_c, nps_b) == (25.0, 0.0)
    assert p == pytest.approx(expected, rel=1e-9) and p == pytest.approx(3.48e-5, rel=0.01)


def test_answers_of_one_customer_count_as_one_cluster() -> None:
    """100 customers answering 10 times each, always the same way: 1,000 answers carry the information of
    ~100. The clustered variance says so (design effect 10 x k/(k-1)); the tests use it."""

    def side(promoters: int, detractors: int, answers_each: int) -> Side:
        customers = promoters + detractors
        n = customers * answers_each
        y = [answers_each] * promoters + [-answers_each] * detractors  # promoters - detractors per customer
        return Side(
            n,
            promoters * answers_each,
            detractors * answers_each,
            customers,
            sum(v * v for v in y),
            sum(v * answers_each for v in y),
            customers * answers_each**2,
        )

    cur, base = side(60, 40, 10), side(45, 55, 10)
    value = (600 - 400) / 1000
    independent = (0.6 + 0.4 - 0.2**2) / 1000
    assert design_effect(cur, value, independent) == pytest.approx(10 * 100 / 99)
    clustered_p = nps_test(cur, base)[2]
    independent_p = nps_test(Side(1000, 600, 400), Side(1000, 450, 550))[2]
    assert independent_p < 1e-10  # as 1,000 independent answers: overwhelming
    assert clustered_p > 0.01  # as 100 customers: a 30-point gap on 100 customers is weak evidence
    # one answer per customer: no inflation at all
    assert design_effect(side(60, 40, 1), 0.2, (1 - 0.04) / 100) == pytest.approx(100 / 99)
