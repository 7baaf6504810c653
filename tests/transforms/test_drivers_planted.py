"""marts.drivers recovers the order of effects planted in the simulator (streams.simulator.LeverEffects).

Simulated answers lose `unresolved` points when the contact did not solve the need, up to `wait` points
for a long wait and `abandonment` points after an abandoned call; the other levers are given no effect.
The relative weights of the month must rank the three planted levers in the order of their effects,
for NPS and CSAT, above the levers without effect. (Effort and expectation gap are perceptions measured
in the same answer, moved by the same latent satisfaction: they are not compared.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.simulator import LeverEffects, SimulationOptions
from tests.streams.test_simulator import warehouse_of

PLANTED = LeverEffects(unresolved=5.0, wait=3.0, abandonment=2.5, repeat=0.0, complaint=0.0, failed_step=0.0)
WITHOUT_EFFECT = ("complaint", "failed_steps")


@pytest.mark.parametrize("seed", [11])
def test_the_ranking_recovers_the_planted_order_of_effects(tmp_path: Path, seed: int) -> None:
    options = SimulationOptions(
        days=28, customers=20_000, seed=seed, end=datetime(2026, 11, 26, tzinfo=UTC), effects=PLANTED
    )
    con, _ = warehouse_of(options, tmp_path)
    for outcome in ("nps", "csat"):
        importance = dict(
            con.execute(
                "select driver, importance from marts.drivers where period_type = 'month' "
                "and period_start = '2026-11-01' and scope = 'all' and outcome = ?",
                [outcome],
            ).fetchall()
        )
        planted = [importance["first_contact_resolution"], importance["wait"], importance["abandonment"]]
        assert planted == sorted(planted, reverse=True), (outcome, importance)
        assert importance["abandonment"] > max(importance[d] for d in WITHOUT_EFFECT), (outcome, importance)
    con.close()
