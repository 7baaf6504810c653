"""The long-running consumer: Kafka -> validated, durable Parquet batches, then offset commits.

Error policy (explicit, as in sql-flow): a message that breaks the contract never stops the
consumer; it goes to `cx.deadletter` (headers say why and where from) and to the quarantine files.
Order per batch: dead letters produced and flushed -> quarantine file durable -> landing file durable
-> offsets committed. The landing file is the batch's commit record (see streams.landing), so a
crash between any two steps is repaired on restart by seeking past the landed files.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from cxpulse.config import Settings, kafka_client_options
from streams.contracts import ContractError, decode_survey, decode_touchpoint
from streams.hot_rules import HotRules
from streams.landing import (
    Rejected,
    batch_path,
    events_table,
    landed_next_offset,
    quarantine_table,
    remove_incomplete,
    write_durably,
)

log = logging.getLogger(__name__)


@dataclass
class _PartitionBuffer:
    first_offset: int | None = None
    last_offset: int | None = None
    events: list = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.offsets) + len(self.rejected)


@dataclass
class ConsumeStats:
    consumed: int = 0
    valid: int = 0
    rejected: int = 0
    batches: int = 0
    first_message_at: float | None = None  # monotonic clock; busy time excludes the idle wait
    last_flush_at: float | None = None

    @property
    def busy_seconds(self) -> float:
        if self.first_message_at is None or self.last_flush_at is None:
            return 0.0
        return self.last_flush_at - self.first_message_at


class _Rebalance(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread, where no blocking consumer call is allowed: both hooks only
    touch local state (buffers, landing files, seek positions)."""

    def __init__(self, owner: LandingConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Unwritten messages of lost partitions are dropped, never committed: their next owner
        # reads them again from the last landing file.
        self.owner.discard(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.resume_from_landing(assigned)


class LandingConsumer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hot: HotRules | None = None
        self.stats = ConsumeStats()
        self._buffers: dict[TopicPartition, _PartitionBuffer] = {}
        self._oldest: float | None = None
        self._stop = False
        self._last_activity: float | None = None  # None until partitions are first assigned
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._decoders = {
            settings.topic_touchpoints: ("touchpoints", decode_touchpoint),
            settings.topic_surveys: ("surveys", decode_survey),
        }

    # -- lifecycle --------------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        self._stop = True

    def _connect(self) -> None:
        delay = 1.0
        while not self._stop:
            try:
                common = {**kafka_client_options(self.settings, "cxpulse-consumer"), "bootstrap_timeout_ms": 5_000}
                self._consumer = KafkaConsumer(
                    group_id=self.settings.consumer_group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    max_poll_records=10_000,
                    fetch_max_bytes=64 * 1024 * 1024,
                    max_partition_fetch_bytes=16 * 1024 * 1024,
                    # A killed consumer's partitions are handed over after this long, not the default 45 s.
                    session_timeout_ms=10_000,
                    heartbeat_interval_ms=3_000,
                    **common,
                )
                self._producer = KafkaProducer(acks="all", linger_ms=5, **common)
                self._hot = HotRules(
                    self.settings, lambda topic, value, key: self._producer.send(topic, value=value, key=key)
                )
                self._consumer.subscribe(list(self.settings.source_topics), listener=_Rebalance(self))
                return
            except (KafkaTimeoutError, KafkaConnectionError):
                log.warning(
                    "Kafka broker at %s is not reachable; retrying in %.0f s "
                    "(start a local one with `cxpulse broker start`)",
                    self.settings.kafka_bootstrap,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 30.0)

    def run(self, *, until_idle: bool = False) -> ConsumeStats:
        """Consume until SIGTERM/SIGINT (or, with until_idle, until nothing arrives for a while)."""
        # Signal handlers can only be set from the main thread (tests and embedders run us elsewhere).
        in_main = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)} if in_main else {}
        )
        try:
            self._connect()
            if self._consumer is None:
                return self.stats
            while not self._stop:
                records = self._consumer.poll(timeout_ms=200)
                if records:
                    self._last_activity = time.monotonic()
                    if self.stats.first_message_at is None:
                        self.stats.first_message_at = self._last_activity
                    self._accept(records)
                if self._due():
                    self.flush()
                # Idle counts from the last message or the last assignment, whichever is later: a
                # restarted consumer may wait for the group to rebalance before it gets partitions.
                idle = self._last_activity is not None and (
                    time.monotonic() - self._last_activity >= self.settings.idle_exit_seconds
                )
                if until_idle and idle:
                    log.info("no message for %.0f s: stopping (--until-idle)", self.settings.idle_exit_seconds)
                    break
            self.flush()
            return self.stats
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._consumer is not None:
                self._consumer.close(autocommit=False)
            if self._producer is not None:
                self._producer.close()

    # -- batching ---------------------------------------------------------------------------------
    def _accept(self, records: dict[TopicPartition, list]) -> None:
        now = datetime.now(UTC)
        for tp, messages in records.items():
            kind, decode = self._decoders[tp.topic]
            buffer = self._buffers.setdefault(tp, _PartitionBuffer())
            if buffer.first_offset is None:
                buffer.first_offset = messages[0].offset
            for message in messages:
                value = message.value
                try:
                    event = decode(value, now)
                except ContractError as exc:
                    buffer.rejected.append(Rejected(message.offset, exc.reason, message.key, value))
                    continue
                buffer.events.append(event)
                buffer.payloads.append(value)
                buffer.offsets.append(message.offset)
                self._hot.observe(kind, event)
            buffer.last_offset = messages[-1].offset
            self.stats.consumed += len(messages)
        if self._oldest is None:
            self._oldest = time.monotonic()

    def _due(self) -> bool:
        if self._oldest is None:
            return False
        if time.monotonic() - self._oldest >= self.settings.batch_max_seconds:
            return True
        return sum(len(b) for b in self._buffers.values()) >= self.settings.batch_max_messages

    def flush(self) -> None:
        """Make buffered batches durable, then commit their offsets. Never commits unwritten data."""
        pending = {tp: b for tp, b in self._buffers.items() if b.first_offset is not None}
        if not pending:
            return
        received_at = datetime.now(UTC)
        dead = [(tp, r) for tp, b in pending.items() for r in b.rejected]
        if dead:
            self._publish_dead_letters(dead)
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, buffer in pending.items():
            kind, _ = self._decoders[tp.topic]
            first, last = buffer.first_offset, buffer.last_offset
            if buffer.rejected:
                write_durably(
                    quarantine_table(buffer.rejected, tp.topic, tp.partition, received_at),
                    batch_path(self.settings.quarantine_dir, tp.topic, tp.partition, first, last),
                )
            write_durably(
                events_table(kind, buffer.events, buffer.payloads, buffer.offsets, tp.topic, tp.partition),
                batch_path(self.settings.landing_dir, tp.topic, tp.partition, first, last),
            )
            commits[tp] = OffsetAndMetadata(last + 1, "", -1)
            self.stats.valid += len(buffer.offsets)
            self.stats.rejected += len(buffer.rejected)
            self.stats.batches += 1
            del self._buffers[tp]
        if not self._buffers:
            self._oldest = None
        self._commit(commits)
        self.stats.last_flush_at = time.monotonic()

    def _commit(self, commits: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            self._consumer.commit(commits)
        except (CommitFailedError, KafkaError) as exc:
            # Safe to skip: the files are durable and the next owner of the partition seeks past them.
            log.warning("offset commit failed (%s); landing files are durable, restart resumes after them", exc)

    def _publish_dead_letters(self, dead: list[tuple[TopicPartition, Rejected]]) -> None:
        for tp, rejected in dead:
            headers = [
                ("cx.error", rejected.error.encode()),
                ("cx.source.topic", tp.topic.encode()),
                ("cx.source.partition", str(tp.partition).encode()),
                ("cx.source.offset", str(rejected.offset).encode()),
            ]
            self._producer.send(
                self.settings.topic_deadletter,
                value=rejected.original or b"",
                key=rejected.key,
                headers=headers,
            )
        self._producer.flush()

    # -- restart ----------------------------------------------------------------------------------
    def discard(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._buffers.pop(tp, None)
        if not self._buffers:
            self._oldest = None

    def resume_from_landing(self, assigned: set[TopicPartition]) -> None:
        """Seek each newly assigned partition past its last landed batch and clear crash leftovers.

        Landing files, not Kafka's committed offset, say where to resume: a crash between a file's
        rename and the commit must not land that batch twice. Retention keeps the newest landing
        file of every partition, so the files never lag behind the commit.
        """
        self.discard(assigned)
        self._last_activity = time.monotonic()
        for tp in assigned:
            landed = landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition)
            if landed is None:
                continue  # nothing landed yet: Kafka's committed offset (or the earliest) applies
            removed = remove_incomplete(
                self.settings.quarantine_dir, self.settings.landing_dir, tp.topic, tp.partition, landed
            )
            if removed:
                log.info("%s[%d]: removed %d leftovers of an interrupted batch", tp.topic, tp.partition, removed)
            log.info("%s[%d]: resuming after the last landed batch, at offset %d", tp.topic, tp.partition, landed)
            self._consumer.seek(tp, landed)
