"""The /metrics endpoint of a real `cxpulse consume` process on the real broker, scraped like Prometheus
does, against what the test produced and what the broker says."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cxpulse.broker import free_port
from cxpulse.config import Settings
from tests.reliability.support import (
    all_landed,
    end_offsets,
    landing_file_count,
    make_stream,
    produce,
    scrape,
    start_consumer,
    stop_consumer,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration


def lags(samples: dict) -> dict[tuple[str, int], float]:
    return {
        (dict(labels)["topic"], int(dict(labels)["partition"])): v
        for (name, labels), v in samples.items()
        if name == "cxpulse_consumer_lag"
    }


@contextmanager
def consumer_with_metrics(settings: Settings, log: Path, messages: list[tuple]) -> Iterator[tuple[int, dict]]:
    """A `cxpulse consume` process serving /metrics, once it holds the 6 partitions and `messages` are
    produced: its metrics port and the topics' end offsets. Stopped on leaving (SIGTERM, exit code 0)."""
    port = free_port()
    proc = start_consumer(settings, log, "--metrics-port", str(port))
    try:
        wait_until(lambda: value(scrape(port), "cxpulse_consumer_assigned_partitions") == 6, 120, "assigned")
        produce(settings, messages)
        yield port, end_offsets(settings)
    finally:
        assert stop_consumer(proc) == 0, log.read_text()[-3000:]


@pytest.mark.timeout(240)
def test_scraped_totals_match_what_was_produced(kafka_settings: Settings, tmp_path: Path) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_messages=1_000, batch_max_seconds=0.5)
    messages, produced = make_stream(settings, 12_000, "metrics", malformed_every=101)
    with consumer_with_metrics(settings, tmp_path / "consumer.log", messages) as (port, ends):
        wait_until(lambda: all_landed(settings, ends), 120, "everything is landed")
        # The lag gauges refresh every few seconds: wait until they say what the broker says.
        wait_until(lambda: lags(scrape(port)) == {(tp.topic, tp.partition): 0 for tp in ends}, 60, "lag 0 everywhere")
        samples = scrape(port)

    for topic in settings.source_topics:
        valid = produced.valid.get(topic, Counter()).total()
        bad = produced.malformed.get(topic, Counter()).total()
        assert value(samples, "cxpulse_consumer_messages_consumed_total", topic=topic) == valid + bad
        assert value(samples, "cxpulse_consumer_events_landed_total", topic=topic) == valid
        assert value(samples, "cxpulse_consumer_dead_letters_total", topic=topic) == bad
        assert bad > 0 and valid > 0
    assert sum(ends.values()) == len(messages)
    # One batch per landing file; every batch took some time and at most the test's duration.
    assert value(samples, "cxpulse_consumer_batch_latency_seconds_count") == landing_file_count(settings)
    assert value(samples, "cxpulse_consumer_batch_write_seconds_count") == landing_file_count(settings)
    assert 0 < value(samples, "cxpulse_consumer_batch_latency_seconds_sum") < 240 * landing_file_count(settings)
    assert value(samples, "cxpulse_consumer_landing_stalled") == 0
    assert value(samples, "cxpulse_consumer_last_landed_timestamp_seconds") > 0
    assert value(samples, "cxpulse_consumer_rebalances_total") >= 1


@pytest.mark.timeout(240)
def test_lag_counts_messages_not_landed_yet(kafka_settings: Settings, tmp_path: Path) -> None:
    # Batches that never fill up nor age out: everything read stays in memory, none of it is landed.
    settings = dataclasses.replace(kafka_settings, batch_max_messages=1_000_000, batch_max_seconds=3_600)
    messages, _ = make_stream(settings, 3_000, "lag", malformed_every=10**9)
    # leaving the block stops the consumer with SIGTERM, which lands what is buffered before exiting
    with consumer_with_metrics(settings, tmp_path / "consumer.log", messages) as (port, ends):
        expected = {(tp.topic, tp.partition): end for tp, end in ends.items()}

        def read_everything() -> bool:
            samples = scrape(port)
            consumed = sum(
                value(samples, "cxpulse_consumer_messages_consumed_total", topic=t) or 0 for t in settings.source_topics
            )
            return consumed == len(messages) and lags(samples) == expected

        wait_until(read_everything, 60, "every message is read and the lag is the whole log")
        samples = scrape(port)
        landed = [value(samples, "cxpulse_consumer_events_landed_total", topic=t) for t in settings.source_topics]
        assert landed == [None, None]  # no batch landed: the counters have no series yet
        assert landing_file_count(settings) == 0
    assert all_landed(settings, ends)
