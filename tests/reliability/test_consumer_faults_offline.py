"""Fault paths of the consumer that need no broker: exact crash leftovers, a disk that fills up between
two partitions of one flush, a poison message nested too deeply, clients that fail to bootstrap, and
two members of a group landing the same partition (a rebalance in progress, a session that expired)."""

from __future__ import annotations

import errno
import json
import socket
import threading
from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.future import Future

import streams.consumer.batches as consumer_module
from cxpulse.config import Settings
from streams.consumer import LandingConsumer
from streams.consumer.rebalance import _Rebalance
from streams.kafka_clients import open_client
from streams.landing import Rejected, batch_path, parse_batch_name, quarantine_table, write_durably

Record = namedtuple("Record", "offset key value")


class FakeKafka:
    """The part of KafkaConsumer the batching code uses."""

    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned
        self.positions: dict[TopicPartition, int] = {}
        self.committed_offsets: dict[TopicPartition, int] = {}
        self.paused_set: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: dict[TopicPartition, int] = {}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_set |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_set -= set(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_set)

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    def committed(self, tp: TopicPartition) -> int | None:
        return self.committed_offsets.get(tp)  # none: a new group, consumption starts at the log's start

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int | None:
        return self.positions.get(tp)

    def beginning_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        # Unknown here: the consumer then starts a partition's first batch at its first record.
        return dict.fromkeys(tps, 2**63 - 1)


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[bytes] = []
        self.fail = fail

    def send(self, topic: str, value: bytes, key: bytes | None = None, headers: list | None = None) -> Future:
        self.sent.append(value)
        return Future().failure(KafkaTimeoutError("delivery timed out")) if self.fail else Future().success(None)

    def flush(self) -> None:
        pass


class NoHotRules:
    def observe(self, kind: str, event: object) -> None:
        return None


def survey(i: int) -> bytes:
    return json.dumps(
        {
            "response_id": f"r{i}",
            "occurred_at": "2026-03-10T10:00:00Z",
            "customer_id": "c1",
            "channel": "chat",
            "touchpoint": "web_chat",
            "survey": "post_contact",
            "nps": i % 11,
        }
    ).encode()


def offline_consumer(settings: Settings, assigned: set[TopicPartition]) -> LandingConsumer:
    consumer = LandingConsumer(settings)
    consumer._consumer = FakeKafka(assigned)
    consumer._producer = FakeProducer()
    consumer._hot = NoHotRules()
    _Rebalance(consumer).on_partitions_assigned(assigned)  # as the group does: resume from the landing files
    return consumer


def test_a_first_batch_that_never_landed_leaves_no_quarantine_file_behind(settings: Settings) -> None:
    """Killed between the quarantine file and the landing file of a partition's first batch: the redo
    may cover another range, so the orphan would have been loaded beside it as duplicate dead letters."""
    tp = TopicPartition(settings.topic_surveys, 1)
    orphan = batch_path(settings.quarantine_dir, tp.topic, tp.partition, 0, 41)
    rejected = [Rejected(7, "not JSON: Input data was truncated", None, b"{")]
    write_durably(quarantine_table(rejected, tp.topic, tp.partition, datetime.now(UTC)), orphan)
    consumer = offline_consumer(settings, {tp})  # assigned: resumes from the landing files
    assert not orphan.exists()
    assert tp not in consumer._consumer.seeks, "nothing landed: Kafka's committed offset applies"


def test_disk_full_between_two_partitions_commits_only_what_is_durable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, fine = TopicPartition(settings.topic_surveys, 1), TopicPartition(settings.topic_surveys, 0)
    consumer = offline_consumer(settings, {full, fine})
    records = {fine: [Record(o, b"k", survey(o)) for o in range(0, 5)]}
    records[full] = [Record(o, b"k", survey(o)) for o in range(10, 20)] + [Record(20, b"k", b"{")]
    consumer._accept(records)
    real_write = consumer_module.write_durably

    def no_space_for_partition_1(table, path: Path) -> None:
        if path.parent.name == "1":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(table, path)

    monkeypatch.setattr(consumer_module, "write_durably", no_space_for_partition_1)
    consumer.flush()
    kafka = consumer._consumer
    assert kafka.commits == [{fine: 5}], "the landed partition is committed, the other one is not"
    assert consumer._stall is not None and kafka.paused() == {full, fine}
    assert len(consumer._buffers[full]) == 11, "the unwritten batch is kept whole"
    assert consumer._producer.sent == [b"{"]
    consumer.flush()  # still full: retried, nothing committed, the dead letter not published again
    assert kafka.commits == [{fine: 5}] and consumer._producer.sent == [b"{"]
    assert not consumer._due(), "the next try waits for the backoff"

    monkeypatch.setattr(consumer_module, "write_durably", real_write)
    consumer._stall.retry_at = 0
    assert consumer._due()
    consumer.flush()
    assert kafka.commits[-1] == {full: 21}
    assert consumer._stall is None and kafka.paused() == set() and not consumer._buffers
    assert batch_path(settings.landing_dir, full.topic, 1, 10, 20).exists()
    assert batch_path(settings.quarantine_dir, full.topic, 1, 10, 20).exists()


def test_other_write_errors_still_stop_the_consumer(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    tp = TopicPartition(settings.topic_surveys, 0)
    consumer = offline_consumer(settings, {tp})
    consumer._accept({tp: [Record(0, b"k", survey(0))]})

    def read_only(table, path: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(consumer_module, "write_durably", read_only)
    with pytest.raises(OSError, match="Read-only"):
        consumer.flush()
    assert consumer._consumer.commits == [] and consumer._stall is None


def test_json_nested_too_deeply_is_a_dead_letter_not_a_crash(settings: Settings) -> None:
    tp = TopicPartition(settings.topic_touchpoints, 0)
    consumer = offline_consumer(settings, {tp})
    poison = b'{"event_id": "x", "extra": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    consumer._accept({tp: [Record(0, None, poison)]})
    (rejected,) = consumer._buffers[tp].rejected
    assert rejected.error.startswith("not JSON: nested too deeply") and rejected.original == poison


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def io_threads() -> int:
    return sum(t.name.startswith("kafka-io") for t in threading.enumerate())


def test_a_client_that_cannot_bootstrap_leaves_no_io_thread_running() -> None:
    before = io_threads()
    for _ in range(3):
        with pytest.raises(KafkaTimeoutError):
            open_client(KafkaConsumer, bootstrap_servers=f"localhost:{dead_port()}", bootstrap_timeout_ms=300)
    assert io_threads() == before


def test_undelivered_dead_letters_stop_the_batch_before_anything_is_written_or_committed(settings: Settings) -> None:
    tp = TopicPartition(settings.topic_surveys, 0)
    consumer = offline_consumer(settings, {tp})
    consumer._producer = FakeProducer(fail=True)
    consumer._accept({tp: [Record(0, b"k", survey(0)), Record(1, b"k", b"{")]})
    with pytest.raises(KafkaError, match="1 dead letters not delivered"):
        consumer.flush()
    assert consumer._consumer.commits == []
    assert not list(settings.home.rglob("*.parquet")), "a restart reads the batch again, dead letter included"


def landed_ranges(settings: Settings, tp: TopicPartition) -> list[tuple[int, int]]:
    folder = settings.landing_dir / tp.topic / str(tp.partition)
    return [parse_batch_name(p) for p in sorted(folder.glob("*.parquet"))]


def test_two_members_landing_one_partition_tile_its_offsets(settings: Settings) -> None:
    """A lost its partition without knowing it (session expired while it was busy); B, the new owner,
    resumed from the same landing end. Whoever lands first wins; the other drops its batch and reads
    again from where the files end: no offset is landed twice, none is skipped."""
    tp = TopicPartition(settings.topic_surveys, 2)
    a, b = offline_consumer(settings, {tp}), offline_consumer(settings, {tp})
    a._accept({tp: [Record(o, b"k", survey(o)) for o in range(0, 10)]})
    b._accept({tp: [Record(o, b"k", survey(o)) for o in range(0, 15)]})
    a.flush()
    b.flush()
    assert landed_ranges(settings, tp) == [(0, 9)]
    assert b._consumer.commits == [] and b._consumer.seeks[tp] == 10 and tp not in b._buffers
    b._accept({tp: [Record(o, b"k", survey(o)) for o in range(10, 15)]})  # read again from the seek
    b.flush()
    assert landed_ranges(settings, tp) == [(0, 9), (10, 14)]
    assert b._consumer.commits == [{tp: 15}]


def test_a_revoked_partition_awaiting_the_rejoin_is_neither_covered_nor_landed(settings: Settings) -> None:
    """kafka-python keeps a revoked partition in assignment(), with its position, until the rejoin
    completes. Covering it then (committed 0, position 30) would land 0-29 as offsets without messages,
    beside the new owner's batch of the same offsets (the overlap a scale-out test once caught)."""
    tp = TopicPartition(settings.topic_surveys, 0)
    consumer = offline_consumer(settings, {tp})
    consumer._accept({tp: [Record(o, b"k", survey(o)) for o in range(0, 30)]})
    consumer._consumer.positions[tp], consumer._consumer.committed_offsets[tp] = 30, 0
    _Rebalance(consumer).on_partitions_revoked({tp})
    assert consumer._consumer.assignment() == {tp}, "still listed by the client until the rejoin"
    consumer._cover_skipped()
    consumer._accept({tp: [Record(30, b"k", survey(30))]})  # records of the same poll as the revocation
    consumer.flush()
    assert not consumer._buffers and landed_ranges(settings, tp) == []
    assert consumer._consumer.commits == []


def test_a_partition_given_back_before_its_first_landing_is_read_again_from_its_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebalance right after the start (seen at every start of a group on a fresh metadata cache)
    revokes a partition whose first batch is still in memory and gives it back to the same member.
    kafka-python keeps its position (30); with no landing file, the member must seek back to 0. Resuming
    at 30 landed 0-29 as offsets without messages: 4,040 events lost in an integration test."""
    tp = TopicPartition(settings.topic_surveys, 1)
    consumer = offline_consumer(settings, {tp})
    monkeypatch.setattr(consumer._consumer, "beginning_offsets", lambda tps: dict.fromkeys(tps, 0))
    consumer._accept({tp: [Record(o, b"k", survey(o)) for o in range(0, 30)]})
    consumer._consumer.positions[tp] = 30  # a new group: nothing committed
    rebalance = _Rebalance(consumer)
    rebalance.on_partitions_revoked({tp})
    rebalance.on_partitions_assigned({tp})
    assert consumer._consumer.seeks[tp] == 0
    consumer._consumer.positions[tp] = 0  # as the real client does on seek
    consumer._cover_skipped()
    assert not consumer._buffers, "nothing to cover: the position is back at the batch's start"
    consumer._accept({tp: [Record(o, b"k", survey(o)) for o in range(0, 30)]})  # read again
    consumer._consumer.positions[tp] = 30
    consumer.flush()
    assert landed_ranges(settings, tp) == [(0, 29)]
    landed = next((settings.landing_dir / tp.topic / "1").glob("*.parquet"))
    assert pq.read_metadata(landed).num_rows == 30
    assert (consumer.stats.consumed, consumer.stats.valid) == (60, 30)  # read twice, landed once
    assert consumer._consumer.commits == [{tp: 30}]
