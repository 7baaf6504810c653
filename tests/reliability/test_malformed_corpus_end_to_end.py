"""The whole bad-input corpus through a real broker, the real consumer and the loader: every case is
accounted for (dead letter with its reason, loaded verbatim, or dropped as a duplicate), injection
strings are plain text, the tables are still there, and the books balance."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from cxpulse.config import Settings
from cxpulse.pipeline import load_step
from cxpulse.reconcile import check_balanced, reconcile
from streams.consumer import LandingConsumer
from tests.reliability.support import read_topic
from tests.streams import test_malformed_corpus as corpus
from warehouse.db import connect

pytestmark = pytest.mark.integration

KEY = b"corpus-cust"  # one key: every case of a topic in one partition, in manifest order


def produce_corpus(settings: Settings) -> dict[str, tuple[dict, bytes, int, int]]:
    """Send every case the broker accepts, each with its codec and in its transaction when it has one;
    name -> (case, bytes, partition, offset)."""
    topics = {"touchpoints": settings.topic_touchpoints, "surveys": settings.topic_surveys}
    producers: dict[str, KafkaProducer] = {}

    def producer(case: dict) -> KafkaProducer:
        kind = "transactional" if "transaction" in case else case.get("codec", "none")
        if kind not in producers:
            options = {"compression_type": None if kind in ("none", "transactional") else kind}
            if kind == "transactional":
                options["transactional_id"] = f"corpus-{settings.topic_surveys}"
            producers[kind] = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5, **options)
            if kind == "transactional":
                producers[kind].init_transactions()
        return producers[kind]

    sent = {}
    try:
        for case in corpus.MANIFEST:
            if case.get("broker") == "refused":
                continue
            raw = corpus.case_bytes(case)
            chosen = producer(case)
            if "transaction" in case:
                chosen.begin_transaction()
            meta = chosen.send(topics[case["kind"]], value=raw, key=KEY).get(timeout=30)
            if case.get("transaction") == "committed":
                chosen.commit_transaction()
            elif case.get("transaction") == "aborted":
                chosen.abort_transaction()
            sent[corpus.case_name(case)] = (case, raw, meta.partition, meta.offset)
    finally:
        for p in producers.values():
            p.close()
    return sent


@pytest.mark.timeout(180)
def test_every_corpus_case_is_accounted_for_end_to_end(kafka_settings: Settings) -> None:
    settings = dataclasses.replace(kafka_settings, idle_exit_seconds=2)
    # The 5 MB case never enters a topic: refused by the producer (1 MB max_request_size) and, when
    # a producer allows more, by the broker (message.max.bytes ~1 MB on the cxpulse topics).
    for case in (c for c in corpus.MANIFEST if c.get("broker") == "refused"):
        raw = corpus.case_bytes(case)
        default = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        try:
            with pytest.raises(MessageSizeTooLargeError):
                default.send(settings.topic_surveys, value=raw, key=KEY)
        finally:
            default.close()
        permissive = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, max_request_size=16 * 1024 * 1024, retries=0
        )
        try:
            with pytest.raises(MessageSizeTooLargeError):
                permissive.send(settings.topic_surveys, value=raw, key=KEY).get(timeout=60)
        finally:
            permissive.close()

    sent = produce_corpus(settings)
    stats = LandingConsumer(settings).run(until_idle=True)
    dead_cases = [c for c in corpus.MANIFEST if c["outcome"] == "dead_letter" and c.get("broker") != "refused"]
    aborted = [c for c in corpus.MANIFEST if c["outcome"] == "aborted"]
    transactions = sum(1 for c in corpus.MANIFEST if "transaction" in c)
    assert stats.consumed == len(sent) - len(aborted)
    assert stats.rejected == len(dead_cases)

    load_step(settings)
    con = connect(settings.warehouse_path)
    try:
        books = reconcile(con, settings)
        check_balanced(books)
        # Every transaction leaves a marker; an aborted one also its records: offsets without a message.
        assert sum(r.txn_skipped for r in books) == transactions + len(aborted)
        tables = {r[0] for r in con.execute("select schema_name || '.' || table_name from duckdb_tables()").fetchall()}
        assert {"raw.touchpoints", "raw.surveys", "ops.deadletters", "ops.loaded_files"} <= tables
        for name, (case, raw, partition, offset) in sent.items():
            kind = case["kind"]
            topic = settings.topic_touchpoints if kind == "touchpoints" else settings.topic_surveys
            dead = con.execute(
                'select error, original from ops.deadletters where topic = ? and "partition" = ? and "offset" = ?',
                [topic, partition, offset],
            ).fetchall()
            cursor = con.execute(
                f"select * from raw.{kind} where kafka_partition = ? and kafka_offset = ?", [partition, offset]
            )
            rows = [dict(zip([d[0] for d in cursor.description], r, strict=True)) for r in cursor.fetchall()]
            if case["outcome"] == "aborted":
                assert not dead and not rows, f"{name}: an aborted record was delivered"
                continue
            if case["outcome"] == "dead_letter":
                assert len(dead) == 1 and not rows, name
                error, original = dead[0]
                assert case["reason"] in error, f"{name}: {error}"
                assert bytes(original) == raw, name
                continue
            assert not dead, f"{name} was dead-lettered: {dead}"
            if case["outcome"] == "duplicate":
                assert not rows, f"{name}: a second copy of an id was loaded"
                first = sent[case["duplicate_of"]]
                assert first[3] < offset and first[2] == partition, "the first copy is the lower offset"
                continue
            assert len(rows) == 1, name
            row = rows[0]
            assert row["payload"] == raw.decode(), f"{name}: payload not verbatim"
            document = json.loads(raw)
            for field, value in document.items():
                if field in row and isinstance(value, str) and field != "occurred_at":
                    assert row[field] == value, f"{name}: {field} not kept verbatim"
            occurred = datetime.fromisoformat(document["occurred_at"])
            assert row["occurred_at"] == occurred.astimezone(UTC), f"{name}: occurred_at"

        duplicates = con.execute("select sum(duplicates_dropped)::bigint from ops.loaded_files").fetchone()[0]
        assert duplicates == sum(1 for c in corpus.MANIFEST if c["outcome"] == "duplicate")
        loaded = sum(1 for c in sent.values() if c[0]["outcome"] == "loaded")
        counts = [con.execute(f"select count(*) from raw.{k}").fetchone()[0] for k in ("touchpoints", "surveys")]
        assert sum(counts) == loaded
        assert con.execute("select count(*) from ops.deadletters").fetchone()[0] == len(dead_cases)
        # The injection strings are data: the first copy of the duplicated survey won, nothing was executed.
        assert con.execute("select nps from raw.surveys where response_id = 'sv-same-id'").fetchall() == [(10,)]
        assert (
            con.execute(
                "select count(*) from raw.touchpoints where reason = ? and touchpoint = ?",
                ["'); drop table raw.touchpoints; --"] * 2,
            ).fetchone()[0]
            == 1
        )
        assert (
            con.execute("select verbatim from raw.surveys where response_id = 'sv-html'")
            .fetchone()[0]
            .startswith("<script>alert(1)</script>")
        )
    finally:
        con.close()

    # cx.deadletter: one message per dead letter, a reference record for those too large for the topic.
    by_source = {
        (dict(m.headers)["cx.source.topic"].decode(), int(dict(m.headers)["cx.source.offset"])): m
        for m in read_topic(settings, settings.topic_deadletter)
    }
    topics = {"touchpoints": settings.topic_touchpoints, "surveys": settings.topic_surveys}
    for name, (case, raw, _, offset) in sent.items():
        message = by_source.get((topics[case["kind"]], offset))
        assert (message is not None) == (case["outcome"] == "dead_letter"), name
        if case.get("deadletter_topic") == "reference":
            reference = json.loads(message.value)
            assert reference["size"] == len(raw) and reference["source"]["offset"] == offset, name
        elif message is not None:
            assert message.value == raw, name
    # Hot alerts: the committed detractor is alerted on, the aborted one never.
    alerted = {json.loads(m.value)["response_id"] for m in read_topic(settings, settings.topic_alerts)}
    assert "sv-tx-committed" in alerted and "sv-tx-aborted" not in alerted
