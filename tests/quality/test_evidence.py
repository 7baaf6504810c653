"""Evidently drift evidence on seeded survey answers: real Evidently, no mocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from quality.evidence import DriftVerdict, ScoreSample, evidence_report

# P(score 0..10) of NPS answers
HAPPY = np.array([0.0] * 8 + [0.3, 0.4, 0.3])  # centred on 8-10
UNHAPPY = np.array([0.0, 0.0, 0.2, 0.3, 0.3, 0.2] + [0.0] * 5)  # centred on 2-5
TYPICAL = np.array([0.02] * 7 + [0.15, 0.25, 0.20, 0.20]) / 1.14


def answers(seed: int, weights: np.ndarray, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(x) for x in rng.choice(len(weights), size=n, p=weights / weights.sum())]


# ScoreSample(kpi, scope, current, baseline)
SHIFTED = ScoreSample("nps", "channel:chat", answers(1, UNHAPPY, 300), answers(2, HAPPY, 300))
STABLE = ScoreSample("nps", "channel:phone", answers(3, TYPICAL, 300), answers(4, TYPICAL, 300))
# unequal lengths on both sides, a 1-5 scale
CSAT = ScoreSample("csat", "channel:chat", answers(5, np.ones(5), 120), answers(6, np.ones(5), 410))
TINY = ScoreSample("csat", "channel:email", current=[4.0], baseline=answers(7, np.ones(5), 50))
NAN_ONLY = ScoreSample("ces", "channel:web", current=[float("nan")] * 10, baseline=[3.0, 4.0, 5.0])


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[tuple[str, str], DriftVerdict]]:
    out = tmp_path_factory.mktemp("evidence") / "nested" / "dir" / "drift.html"
    return out, evidence_report([SHIFTED, STABLE, CSAT, TINY, NAN_ONLY], out)


def test_big_shift_is_drift(report):
    _, verdicts = report
    v = verdicts[("nps", "channel:chat")]
    assert v.drifted is True
    assert v.method == "K-S p_value"
    assert v.score is not None and v.score < 1e-6


def test_same_distribution_is_not_drift(report):
    _, verdicts = report
    v = verdicts[("nps", "channel:phone")]
    assert v.drifted is False
    assert v.method == "K-S p_value"
    assert v.score is not None and v.score > 0.05


def test_one_verdict_per_eligible_sample(report):
    _, verdicts = report
    assert set(verdicts) == {("nps", "channel:chat"), ("nps", "channel:phone"), ("csat", "channel:chat")}
    for (kpi, scope), v in verdicts.items():
        assert (v.kpi, v.scope) == (kpi, scope)
    # unequal lengths (120 vs 410), same uniform distribution: NaN padding must not look like drift
    assert verdicts[("csat", "channel:chat")].drifted is False


def test_html_is_self_contained(report):
    out, _ = report
    assert out.is_file()
    assert out.stat().st_size > 10_000
    html = out.read_text(encoding="utf-8")
    assert '<script src="http' not in html
    assert "<link" not in html  # no external stylesheets or fonts either
    assert "nps|channel:chat" in html and "nps|channel:phone" in html


def test_no_eligible_sample_gives_empty_result(tmp_path: Path):
    out = tmp_path / "empty" / "drift.html"
    assert evidence_report([TINY], out) == {}
    assert out.is_file()


def test_duplicate_sample_is_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="duplicate"):
        evidence_report([STABLE, STABLE], tmp_path / "dup.html")


def test_scope_names_from_events_never_reach_the_report_scripts(tmp_path: Path):
    hostile = "touchpoint:</script><script>alert(1)</script>"
    sample = ScoreSample("nps", hostile, [0.0] * 40 + [10.0] * 10, [10.0] * 40 + [0.0] * 10)
    out = tmp_path / "hostile.html"
    verdicts = evidence_report([sample], out)
    assert verdicts[("nps", hostile)].drifted
    text = out.read_text(encoding="utf-8")
    assert "<script>alert(1)" not in text and "&lt;/script&gt;&lt;script&gt;alert(1)" in text
