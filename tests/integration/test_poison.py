"""One message never stops the consumer, against the real broker: a record batch the client cannot decode,
a dead letter the broker refuses as too large, a hot alert the broker refuses. Each is isolated and
reported with its coordinates, counted by the reconciliation, and the messages after it keep flowing."""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from pathlib import Path

import kafka.codec
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from cxpulse.config import Settings
from cxpulse.reconcile import check_balanced, reconcile
from tests.integration import java_producer
from tests.integration.until_landed import consume_until_landed
from tests.reliability.support import read_topic, touchpoint
from warehouse.db import connect
from warehouse.loader import load

pytestmark = pytest.mark.integration

ZSTD_EVENTS, PLAIN_EVENTS = 50, 30


def small_topics(settings: Settings) -> Settings:
    """Dead-letter and alert topics that allow less than the consumer sends (max.message.bytes)."""
    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        settings, topic_deadletter=f"cx.deadletter.small.{suffix}", topic_alerts=f"cx.alerts.small.{suffix}"
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics(
            [
                NewTopic(settings.topic_deadletter, 1, 1, topic_configs={"max.message.bytes": "20000"}),
                NewTopic(settings.topic_alerts, 1, 1, topic_configs={"max.message.bytes": "300"}),
            ]
        )
    finally:
        admin.close()
    return settings


def test_poison_batch_refused_dead_letter_and_refused_alert_never_stop_the_consumer(
    kafka_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = small_topics(kafka_settings)
    # 1. A zstd batch from the Java producer, which this consumer cannot decode (as when a codec package
    #    is missing in a deployment: kafka-python raises UnsupportedCodecError inside poll()).
    zstd = [(f"c{i}", touchpoint(i, "zstd")) for i in range(ZSTD_EVENTS)]
    java_producer.run(
        settings.kafka_bootstrap,
        settings.topic_touchpoints,
        [f"send:{java_producer.write_lines(tmp_path / 'zstd.txt', zstd)}"],
        compression="zstd",
        partition=0,
    )
    # 2. After it in the same partition: plain events, a 100 KB contract violation whose dead letter the
    #    topic refuses (max.message.bytes 20000), and a detractor whose alert the topic refuses (300).
    too_long = json.loads(touchpoint(0, "long"))
    too_long["touchpoint"] = "x" * 100_000
    detractor = {
        "response_id": "r-detractor",
        "occurred_at": "2026-03-02T10:00:00Z",
        "customer_id": "c-1",
        "channel": "chat",
        "touchpoint": "web_chat",
        "survey": "post_contact",
        "nps": 0,
    }
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        big = producer.send(settings.topic_touchpoints, json.dumps(too_long).encode(), partition=0).get(timeout=30)
        for i in range(PLAIN_EVENTS):
            producer.send(settings.topic_touchpoints, touchpoint(i, "plain"), partition=0)
        producer.send(settings.topic_surveys, json.dumps(detractor).encode(), partition=0)
        producer.flush()
    finally:
        producer.close()

    monkeypatch.setattr(kafka.codec, "has_zstd", lambda: False)
    with caplog.at_level(logging.WARNING, logger="streams.consumer"):
        stats = consume_until_landed(settings)
    assert stats.undecodable_batches >= 1
    assert stats.alerts_failed == 1
    assert stats.consumed == ZSTD_EVENTS + 1 + PLAIN_EVENTS + 1
    logged = caplog.text
    assert f"{settings.topic_touchpoints}[0] offsets 0-" in logged and "UnsupportedCodecError" in logged
    assert f"hot alert for {settings.topic_surveys}[0] offset 0 not delivered" in logged
    assert f"{settings.topic_touchpoints}[0] offset {big.offset}: dead letter of" in logged

    con = connect(settings.warehouse_path)
    try:
        load(con, settings)
        assert con.execute("select count(*) from raw.touchpoints").fetchone()[0] == PLAIN_EVENTS
        assert con.execute("select response_id from raw.surveys").fetchall() == [("r-detractor",)]
        undecodable = con.execute(
            "select \"offset\", error from ops.deadletters where error like 'undecodable record batch%' order by 1"
        ).fetchall()
        assert [o for o, _ in undecodable] == list(range(ZSTD_EVENTS))
        assert all("zstd" in e and "UnsupportedCodecError" in e for _, e in undecodable)
        contract = con.execute(
            "select \"offset\", error, octet_length(original) from ops.deadletters where error like 'contract%'"
        ).fetchall()
        assert [(o, n) for o, _, n in contract] == [(big.offset, len(json.dumps(too_long)))]
        rows = reconcile(con, settings)
        check_balanced(rows)
        assert sum(r.lag for r in rows) == 0
    finally:
        con.close()

    # The topic got every dead letter: the batch's offsets, and a reference record for the big one.
    dead = read_topic(settings, settings.topic_deadletter)
    offsets = sorted(int(dict(m.headers)["cx.source.offset"]) for m in dead)
    assert offsets == [*range(ZSTD_EVENTS), big.offset]
    reference = next(m for m in dead if int(dict(m.headers)["cx.source.offset"]) == big.offset)
    body = json.loads(reference.value)
    assert body["source"] == {"topic": settings.topic_touchpoints, "partition": 0, "offset": big.offset}
    assert body["size"] == len(json.dumps(too_long)) and body["reason"].startswith("contract:")
    assert b"refused by the broker" in dict(reference.headers)["cx.replaced"]


def test_a_gzip_batch_that_decompresses_past_the_budget_is_dead_lettered_and_the_rest_flows(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    budget = 4 * 1024 * 1024
    settings = dataclasses.replace(kafka_settings, batch_max_bytes=budget)
    base = json.loads(touchpoint(0, "ratio"))
    bombs = [
        (f"c{i}", json.dumps({**base, "event_id": f"bomb-{i}", "pad": "a" * 100_000}).encode()) for i in range(200)
    ]
    printed = java_producer.run(
        settings.kafka_bootstrap,
        settings.topic_touchpoints,
        [f"send:{java_producer.write_lines(tmp_path / 'bombs.txt', bombs)}"],
        compression="gzip",
        partition=0,
        batch_size=8 * 1024 * 1024,  # Java counts compressed bytes: one batch holds many MB of JSON
        linger_ms=60_000,  # batches close when full or at the final flush, never early on a slow machine
    )
    assert printed["compression-rate-avg"] < 0.01
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        for i in range(PLAIN_EVENTS):
            producer.send(settings.topic_touchpoints, touchpoint(i, "after"), partition=0)
        producer.flush()
    finally:
        producer.close()

    stats = consume_until_landed(settings)
    assert stats.undecodable_batches >= 1
    con = connect(settings.warehouse_path)
    try:
        load(con, settings)
        loaded = {r[0] for r in con.execute("select event_id from raw.touchpoints").fetchall()}
        dead = con.execute('select "offset", error from ops.deadletters order by 1').fetchall()
        assert {f"after-t{i}" for i in range(PLAIN_EVENTS)} <= loaded
        assert dead and all(f"decompresses to more than {budget:,} bytes" in e and "gzip" in e for _, e in dead)
        assert len(loaded) + len(dead) == len(bombs) + PLAIN_EVENTS  # every bomb loaded or dead-lettered
        check_balanced(reconcile(con, settings))
    finally:
        con.close()
