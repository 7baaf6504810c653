"""Run the real consumer until everything on its topics is landed: synchronised on the landing files
reaching the end offsets, not on an idle timeout that a busy machine can hit before the first fetch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kafka import KafkaConsumer, TopicPartition

from cxpulse.config import Settings
from streams.consumer import ConsumeStats, LandingConsumer
from streams.landing import landed_next_offset


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in settings.source_topics for p in consumer.partitions_for_topic(t) or ()]
        return consumer.end_offsets(tps)
    finally:
        consumer.close()


@contextmanager
def consumer_running(settings: Settings) -> Iterator[tuple[LandingConsumer, Callable[[], None]]]:
    """The real consumer, running in a thread until the block ends, and a check that it still runs."""
    consumer = LandingConsumer(settings)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    def alive() -> None:
        assert worker.is_alive(), f"the consumer stopped: {failure}"

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    try:
        yield consumer, alive
    finally:
        consumer.request_stop()
        worker.join(timeout=60)
    assert not failure, failure


def wait_until_landed(
    settings: Settings, ends: dict[TopicPartition, int], alive: Callable[[], None], deadline: float
) -> None:
    """Until every partition of `ends` is landed up to its end offset (time.monotonic() deadline)."""
    while any(
        (landed_next_offset(settings.landing_dir, tp.topic, tp.partition) or 0) < end for tp, end in ends.items()
    ):
        alive()
        assert time.monotonic() < deadline, "timed out waiting for the consumer to land everything"
        time.sleep(0.2)


def consume_until_landed(settings: Settings, timeout_s: float = 240) -> ConsumeStats:
    """Consume in a thread until every source partition is landed up to its end offset, then stop."""
    ends = end_offsets(settings)
    with consumer_running(settings) as (consumer, alive):
        wait_until_landed(settings, ends, alive, time.monotonic() + timeout_s)
    return consumer.stats
