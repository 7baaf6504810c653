"""bench/power.py measures what it says: its answers carry the NPS drop asked for, and the real decision
code on them gives the power and false-alarm rate an independent calculation expects at the extremes."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from bench import power
from cxpulse.config import Settings


@pytest.fixture(scope="module")
def con():
    connection = power.warehouse()
    yield connection
    connection.close()


def nps(table, channel: str, current: bool) -> tuple[float, float, int]:
    """NPS (points) of one channel in one window, its independent-answers standard error and n."""
    start = np.datetime64(power.END.replace(tzinfo=None) - timedelta(days=7), "us")
    when = table["occurred_at"].to_numpy().astype("datetime64[us]")
    scores = table["nps"].to_numpy()[(table["channel"].to_numpy() == channel) & ((when >= start) == current)]
    promoters, detractors = np.mean(scores >= 9), np.mean(scores <= 6)
    var = promoters + detractors - (promoters - detractors) ** 2
    return 100 * (promoters - detractors), 100 * math.sqrt(var / len(scores)), len(scores)


def test_the_generated_answers_drop_by_the_points_asked_on_the_dropped_channel_only() -> None:
    table = power.answers(np.random.default_rng(7), 5_000, 15)
    chat_now, se_now, n_now = nps(table, "chat", True)
    chat_before, se_before, n_before = nps(table, "chat", False)
    assert 4_500 < n_now < 5_500 and 18_000 < n_before < 22_000  # 5,000 a week; four weeks of baseline
    assert 20 < chat_before < 45  # about the simulator's NPS
    assert abs((chat_before - chat_now) - 15) < 3 * math.hypot(se_now, se_before)
    phone_now, se_p, _ = nps(table, "phone", True)
    phone_before, se_pb, _ = nps(table, "phone", False)
    assert abs(phone_now - phone_before) < 3 * math.hypot(se_p, se_pb)


def test_power_at_the_extremes_matches_the_normal_approximation(con) -> None:
    settings = Settings()
    # 20 points on 5,000 answers a week: z = 20 / (sd 69 points x sqrt(1/5000 + 1/20000)) ~ 18, power ~ 1
    big = power.power_cell(con, 20, 5_000, 4, settings)
    assert big.detected == 4 and big.incidents == 4  # one incident per run, rooted in the chat
    # 5 points on 100 answers a week: z ~ 5 / 7.7 ~ 0.65; even untested for multiplicity, P(p < 0.001) =
    # P(Z > 3.29 - 0.65) ~ 0.004 per run: none in 8
    z = 5 / (69 * math.sqrt(1 / 100 + 1 / 400))
    assert stats.norm.sf(stats.norm.isf(0.0005) - z) < 0.01
    small = power.power_cell(con, 5, 100, 8, settings)
    assert small.detected == 0


def test_stable_weeks_raise_less_than_one_false_incident_per_100_scope_weeks(con) -> None:
    # Benjamini-Hochberg at q = 0.001 across the scopes of each of 3 KPIs: under no change at all, P(any
    # finding in a week) <= 3 x 0.001, so 30 weeks expect ~0.1 false incidents (0.016 per 100 scope-weeks)
    stable = power.stable_weeks(con, 30, Settings(), sizes=(300, 1_000))
    assert stable["scope_weeks"] == 30 * power.SCOPES_TESTED
    assert stable["false_incidents"] <= 1 and stable["per_100_scope_weeks"] < 1


def test_a_chat_drop_first_seen_on_one_touchpoint_is_one_incident_on_the_chat(con) -> None:
    # 10 points on 1,000 chat answers a week: in these two seeds a touchpoint's finding is more severe than the
    # channel's (its smaller sample moved further), so it was grouped first and opened an incident of its own;
    # the channel's findings then opened a second one for the same cause
    for seed in (8, 10):
        table = power.answers(np.random.default_rng([100, 1_000, seed]), 1_000, 10)
        assert power.first_run(con, table, Settings()) == ["channel:chat"]
