"""`cxpulse consume` SIGKILLed 10 times at random moments over 200k events: every message lands or is
quarantined exactly once, the landing files tile the offsets, the warehouse reconciles exactly."""

from __future__ import annotations

import dataclasses
import random
import signal
import subprocess
from pathlib import Path

import pytest

from cxpulse.config import Settings
from tests.reliability.support import (
    SteadyProducer,
    all_landed,
    assert_warehouse_exact,
    audit,
    committed_offsets,
    end_offsets,
    landed,
    landing_file_count,
    make_stream,
    start_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration

EVENTS = 200_000
KILLS = 10


@pytest.mark.timeout(300)
def test_ten_sigkills_over_200k_events_lose_nothing_and_double_nothing(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    # Small, frequent batches: a kill has many chances to fall inside a write, a rename or a commit.
    settings = dataclasses.replace(
        kafka_settings, batch_max_messages=1_500, batch_max_seconds=0.25, idle_exit_seconds=3
    )
    messages, produced = make_stream(settings, EVENTS, "kill")
    # Messages keep arriving for ~57 s, so kills fall while there is something to land.
    feeder = SteadyProducer(settings, messages, per_second=3_500)
    feeder.start()
    rng = random.Random(20260308)
    log = tmp_path / "consumer.log"
    files_at_kill, mid_stream = [], 0
    for _ in range(KILLS // 2):
        # Two consumers share the partitions. Both are killed a random moment apart once they land
        # files; the next pair must wait for the group to expire the dead members (session timeout).
        pair = [start_consumer(settings, log), start_consumer(settings, log)]
        try:
            before = landing_file_count(settings)
            wait_until(lambda: landing_file_count(settings) > before, 60, "the consumers land files")  # noqa: B023
            for proc in pair:
                try:
                    proc.wait(timeout=rng.uniform(0.1, 1.5))
                except subprocess.TimeoutExpired:
                    pass
                assert proc.poll() is None, "a consumer died on its own"
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                files_at_kill.append(landing_file_count(settings))
                mid_stream += not all_landed(settings, end_offsets(settings))
                for tp, offset in committed_offsets(settings).items():
                    assert offset <= landed(settings, tp), f"{tp}: committed {offset} past the landed files"
        finally:
            for proc in pair:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    feeder.finish(timeout=120)
    assert sum(end_offsets(settings).values()) == EVENTS
    final = start_consumer(settings, log, "--until-idle")
    assert final.wait(timeout=120) == 0, log.read_text()[-3000:]

    totals = audit(settings, produced)
    assert totals["landed"] + totals["quarantined"] == EVENTS
    assert files_at_kill == sorted(files_at_kill) and files_at_kill[0] > 0
    assert mid_stream >= KILLS // 2, f"only {mid_stream} of {KILLS} kills fell while messages were waiting"
    assert_warehouse_exact(settings, produced)
    text = log.read_text()
    print(f"kills mid-stream: {mid_stream}/{KILLS}; restarts that cleaned crash leftovers: {text.count('leftovers')}")
