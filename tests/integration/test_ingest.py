"""Against a real broker: exact counts through consume -> land -> load, dead letters, SIGTERM and SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from cxpulse.config import Settings, to_env
from streams.consumer import LandingConsumer
from tests.reliability.support import dead_letters, warehouse_counts
from tests.sample import MALFORMED, generate

pytestmark = pytest.mark.integration


def produce(settings: Settings, topic: str, messages: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=10)
    for i, message in enumerate(messages):
        producer.send(topic, value=message, key=f"k{i % 17}".encode())
    producer.flush()
    producer.close()


def test_valid_malformed_and_redelivered_messages_reconcile_exactly(kafka_settings: Settings) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_messages=300, idle_exit_seconds=3)
    sample = generate(customers=150, seed=3)
    produce(settings, settings.topic_touchpoints, sample.touchpoints)
    produce(settings, settings.topic_surveys, sample.surveys)

    stats = LandingConsumer(settings).run(until_idle=True)
    produced = len(sample.touchpoints) + len(sample.surveys)
    assert stats.consumed == produced
    assert stats.rejected == sample.malformed

    counts = warehouse_counts(settings)
    assert counts["produced"] == produced and counts["lag"] == 0
    assert counts["touchpoint_rows"] == counts["touchpoints"] == sample.valid_touchpoints
    assert counts["survey_rows"] == counts["surveys"] == sample.valid_surveys
    assert counts["duplicates"] == sample.duplicates
    assert counts["dead_letter_rows"] == counts["dead_letters"] == sample.malformed
    assert produced == counts["touchpoints"] + counts["surveys"] + counts["duplicates"] + counts["dead_letters"]

    dead = dead_letters(settings, lambda ms: len(ms) >= sample.malformed)
    assert len(dead) == sample.malformed
    headers = [dict(m.headers) for m in dead]
    assert {h["cx.source.topic"].decode() for h in headers} == {
        settings.topic_touchpoints,
        settings.topic_surveys,
    }
    assert all(h["cx.error"] and h["cx.source.offset"].decode().isdigit() for h in headers)
    reasons = {h["cx.error"].decode().split(":")[0] for h in headers}
    assert {"empty message", "not UTF-8", "not JSON", "not a JSON object", "contract"} <= reasons
    assert {m.value for m in dead} >= set(MALFORMED)


def test_sigterm_flushes_commits_and_exits_zero(kafka_settings: Settings) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_messages=100_000, batch_max_seconds=60)
    sample = generate(customers=100, seed=5, with_malformed=False)
    produce(settings, settings.topic_touchpoints, sample.touchpoints)
    env = {**os.environ, **to_env(settings), "CXPULSE_LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    ends = _end_offsets(settings, settings.topic_touchpoints)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxpulse.cli", "consume"], env=env, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    # Batches are large and slow to fill: everything sits in memory until SIGTERM forces the flush.
    # SIGTERM goes once the consumer's debug log says it holds every message (not after a fixed sleep).
    held: dict[int, int] = {}
    for line in proc.stderr:
        if " held up to offset " in line and settings.topic_touchpoints in line:
            partition = int(line.split(settings.topic_touchpoints + "[")[1].split("]")[0])
            held[partition] = int(line.rsplit(" ", 1)[1]) + 1
            if all(held.get(p, 0) >= end for p, end in ends.items()):
                break
    proc.send_signal(signal.SIGTERM)
    proc.stderr.read()  # drained to the end: a closed pipe would break the consumer's last log lines
    assert proc.wait(timeout=60) == 0
    counts = warehouse_counts(settings)
    assert counts["lag"] == 0
    assert counts["touchpoint_rows"] == sample.valid_touchpoints


def _end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {tp.partition: end for tp, end in consumer.end_offsets(tps).items() if end}
    finally:
        consumer.close()


def test_sigkill_at_random_moments_loses_nothing_and_doubles_nothing(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_messages=500, batch_max_seconds=0.3, idle_exit_seconds=4)
    sample = generate(customers=4000, seed=11)
    # Messages keep arriving for ~25 s while consumers are killed, so every kill lands mid-stream.
    chunks = [(settings.topic_touchpoints, sample.touchpoints[i::25]) for i in range(25)]
    chunks += [(settings.topic_surveys, sample.surveys)]
    producer = threading.Thread(target=_produce_slowly, args=(settings, chunks))
    producer.start()
    rng = random.Random(42)
    env = {**os.environ, **to_env(settings)}
    landed_before_final = 0
    log = tmp_path / "consumer.log"
    for kill in range(5):
        assigned = log.read_text().count("assigned ") if log.exists() else 0
        with log.open("ab") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cxpulse.cli", "consume"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
        # Killed a random moment after it holds its partitions (its log says so), however slow its start.
        deadline = time.monotonic() + 120
        while log.read_text().count("assigned ") <= assigned:
            assert time.monotonic() < deadline and proc.poll() is None, "the consumer never got its partitions"
            time.sleep(0.05)
        # The first consumer lands a file before its kill (however slow the machine), so that the kills
        # are proven against landed files; the later kills come at random moments of the stream.
        while kill == 0 and _landed(settings) == 0:
            assert time.monotonic() < deadline and proc.poll() is None, "the first consumer never landed a file"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        landed = _landed(settings)
        assert landed >= landed_before_final
        landed_before_final = landed
    producer.join()
    assert landed_before_final > 0, "the killed consumers landed files before dying"
    final = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "consume", "--until-idle"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert final.returncode == 0, final.stderr[-2000:]

    counts = warehouse_counts(settings)
    assert counts["lag"] == 0
    assert counts["produced"] == len(sample.touchpoints) + len(sample.surveys)
    assert counts["touchpoint_rows"] == counts["touchpoints"] == sample.valid_touchpoints
    assert counts["survey_rows"] == counts["surveys"] == sample.valid_surveys
    # Only the redeliveries we injected are dropped: the crashes added none.
    assert counts["duplicates"] == sample.duplicates
    assert counts["dead_letter_rows"] == counts["dead_letters"] == sample.malformed


def _landed(settings: Settings) -> int:
    return len(list(Path(settings.landing_dir).rglob("*.parquet")))


def _produce_slowly(settings: Settings, chunks: list[tuple[str, list[bytes]]]) -> None:
    for topic, messages in chunks:
        produce(settings, topic, messages)
        time.sleep(1.0)
