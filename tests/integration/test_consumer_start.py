"""Against a real broker: a consumer service started before its topics exist consumes them once they do.

kafka-python finds a subscribed topic that appears later only at its periodic metadata refresh (5 minutes),
and a group leader whose metadata lacks the topics can assign 0 partitions for good
(dpkp/kafka-python#1237). The consumer waits for its topics before its first poll; this test holds it to that.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import pytest

from cxpulse.broker import ensure_topics
from tests.conftest import settings_apart
from tests.integration.test_ingest import produce
from tests.integration.until_landed import consumer_running, end_offsets, wait_until_landed
from tests.sample import generate

pytestmark = pytest.mark.integration

# Far below kafka-python's 5-minute metadata refresh, which is how long the consumer sat idle before.
BOUND_S = 120


def test_a_consumer_started_before_its_topics_consumes_them_once_created(
    kafka_bootstrap: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = dataclasses.replace(settings_apart(kafka_bootstrap, tmp_path / "home"), batch_max_seconds=1)
    caplog.set_level(logging.INFO, logger="streams.consumer")
    with consumer_running(settings) as (consumer, alive):
        deadline = time.monotonic() + BOUND_S
        # Synchronised on the consumer saying it waits for the missing topics, not on a sleep.
        while not any("do not exist" in r.getMessage() for r in caplog.records):
            alive()
            assert time.monotonic() < deadline, "the consumer never reported its missing topics"
            time.sleep(0.1)
        assert not consumer.assigned

        ensure_topics(kafka_bootstrap, settings)
        sample = generate(customers=40, seed=11, with_malformed=False)
        produce(settings, settings.topic_touchpoints, sample.touchpoints)
        produce(settings, settings.topic_surveys, sample.surveys)
        ends = end_offsets(settings)
        assert len(ends) == 6 and sum(ends.values()) == len(sample.touchpoints) + len(sample.surveys)
        wait_until_landed(settings, ends, alive, deadline)
    assert consumer.stats.consumed == sum(ends.values())
    assignments = [r.getMessage() for r in caplog.records if r.getMessage().startswith("assigned ")]
    # Alone in its group, it was given every partition of both topics at once, and kept them: no second
    # rebalance right after the start (which would have read the first batch twice).
    assert len(assignments) == 1 and assignments[0].startswith("assigned 6 partitions"), assignments
