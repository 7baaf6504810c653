"""The broker goes away under a running `cxpulse consume`, twice (a clean stop, then a SIGKILL), and
comes back on the same address: the consumer keeps running, resumes, and the counts stay exact.

The broker is a dedicated one (its own CXPULSE_HOME and port), never the session broker."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import pytest

from cxpulse.broker import free_port, start_broker, stop_broker
from cxpulse.config import Settings
from tests.reliability.support import (
    Produced,
    all_landed,
    assert_warehouse_exact,
    audit,
    dead_letters,
    end_offsets,
    landing_file_count,
    make_stream,
    produce,
    start_consumer,
    stop_consumer,
    wait_until,
)

pytestmark = pytest.mark.integration

OUTAGE_S = 4  # longer than a heartbeat interval (3 s), short enough for a test
ROUND = 20_000


def sources(messages: list) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of the messages the dead letters stand for."""
    found = set()
    for message in messages:
        h = dict(message.headers)
        found.add((h["cx.source.topic"].decode(), int(h["cx.source.partition"]), int(h["cx.source.offset"])))
    return found


@pytest.mark.timeout(240)
def test_consumer_survives_broker_stop_and_kill_and_counts_stay_exact(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        Settings(),
        home=tmp_path / "home",
        kafka_bootstrap=f"localhost:{free_port()}",
        batch_max_messages=2_000,
        batch_max_seconds=0.25,
    )
    start_broker(settings)
    log = tmp_path / "consumer.log"
    proc = None
    try:
        rounds = [make_stream(settings, ROUND, f"round{i}", malformed_every=200) for i in range(3)]
        produce(settings, rounds[0][0])
        proc = start_consumer(settings, log)
        wait_until(lambda: landing_file_count(settings) > 0, 60, "the consumer lands files")

        # Outage 1: a clean broker stop in the middle of the first round.
        assert stop_broker(settings)
        time.sleep(OUTAGE_S)
        assert proc.poll() is None, f"the consumer exited during the outage:\n{log.read_text()[-3000:]}"
        start_broker(settings)
        produce(settings, rounds[1][0])
        ends = end_offsets(settings)
        wait_until(lambda: all_landed(settings, ends), 120, "rounds 1 and 2 land after the restart")

        # Outage 2: the broker is SIGKILLed (no clean shutdown) while the third round is consumed.
        produce(settings, rounds[2][0])
        before = landing_file_count(settings)
        wait_until(lambda: landing_file_count(settings) > before, 60, "the consumer lands files of round 3")
        pid = int((settings.kafka_dir / "broker.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        time.sleep(OUTAGE_S)
        assert proc.poll() is None, f"the consumer exited during the outage:\n{log.read_text()[-3000:]}"
        start_broker(settings)
        ends = end_offsets(settings)
        assert sum(ends.values()) == 3 * ROUND
        wait_until(lambda: all_landed(settings, ends), 120, "round 3 lands after the second restart")
        assert stop_consumer(proc, timeout=60) == 0

        produced = Produced()
        for _, part in rounds:
            for bucket, target in ((part.valid, produced.valid), (part.malformed, produced.malformed)):
                for topic, counts in bucket.items():
                    target.setdefault(topic, counts.__class__()).update(counts)
            for topic, ids in part.ids.items():
                produced.ids.setdefault(topic, set()).update(ids)
        totals = audit(settings, produced)
        assert totals["landed"] + totals["quarantined"] == 3 * ROUND
        assert_warehouse_exact(settings, produced)
        # cx.deadletter is at-least-once: every quarantined message was published there at least once.
        quarantined = totals["quarantined"]
        assert len(sources(dead_letters(settings, lambda ms: len(sources(ms)) >= quarantined))) == quarantined
        assert "Traceback" not in log.read_text()
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        stop_broker(settings)
