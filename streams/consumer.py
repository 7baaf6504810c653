"""The long-running consumer: Kafka -> validated, durable Parquet batches, then offset commits.

Error policy (explicit, as in sql-flow): a message that breaks the contract never stops the
consumer; it goes to `cx.deadletter` (headers say why and where from) and to the quarantine files.
Order per batch: dead letters produced and flushed -> quarantine file durable -> landing file durable
-> offsets committed. The landing file is the batch's commit record (see streams.landing), so a
crash between any two steps is repaired on restart by seeking past the landed files.

A full landing disk (ENOSPC/EDQUOT) stalls the consumer instead of stopping it: the partial file is
removed, the batches stay in memory (bounded: fetching is paused), nothing is committed past the last
landed batch, the group membership is kept by polling the paused partitions, and the write is
retried with backoff until space returns. SIGTERM/SIGINT only set a flag; every wait checks it.

Transactions: the consumer reads with isolation_level=read_committed, so records of aborted
transactions are never delivered (never landed, counted or alerted on) and records of an open
transaction wait until it commits. Transaction markers and aborted records still occupy offsets: each
batch covers the offsets up to the consumer's position, and its landing file records how many of them
held no message (streams.landing), which the reconciliation counts as such.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    CommitFailedError,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from kafka.structs import OffsetAndMetadata

from cxpulse.config import Settings
from streams.codecs import bound_decompression
from streams.contracts import ContractError, decode_survey, decode_touchpoint
from streams.hot_rules import HotRules
from streams.kafka_clients import KafkaAccessError, kafka_client
from streams.landing import (
    Rejected,
    batch_path,
    events_table,
    landed_next_offset,
    partition_lock,
    quarantine_table,
    remove_incomplete,
    warm_up_arrow,
    with_skipped,
    write_durably,
)
from streams.metrics import ConsumerMetrics

log = logging.getLogger(__name__)

BACKOFF_MAX_S = 30.0
STOP_CHECK_S = 0.2  # the longest a wait goes without looking at the stop flag
COMMIT_TIMEOUT_MS = 10_000  # a failed commit is harmless (the landing files say where to resume)
CLOSE_TIMEOUT_S = 5.0
IDLE_POLL_MIN_S = 0.05  # an empty poll that returned faster than this is followed by a pause
CAUGHT_UP_CHECK_S = 0.5  # --until-idle asks the broker for end offsets at most this often
LAG_REFRESH_S = 5.0  # the lag gauges are refreshed this often
OFFSETS_TIMEOUT_MS = 5_000
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# A dead letter (value + key + headers) above this is sent as a reference record instead: Kafka's
# default limits are 1 MiB per request (producer) and per batch (broker), headers included.
DEAD_LETTER_MAX_BYTES = 1_000_000
MAX_POLL_RECORDS = 10_000
_TOO_LARGE = (MessageSizeTooLargeError, RecordListTooLargeError)


class _Interrupted(BaseException):
    """Raised by the signal handler to abandon a Kafka client that is still bootstrapping."""


@dataclass
class _PartitionBuffer:
    first_offset: int | None = None  # the batch covers offsets first..last, messages or not
    last_offset: int | None = None
    nbytes: int = 0  # bytes of the messages held (the batch byte budget)
    events: list = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    opened_at: float = 0.0  # monotonic clock: when the batch's first message was read
    dead_letters_sent: bool = False  # a retried write does not publish the batch's dead letters again

    def __len__(self) -> int:
        return len(self.offsets) + len(self.rejected)


@dataclass
class ConsumeStats:
    consumed: int = 0
    valid: int = 0
    rejected: int = 0
    batches: int = 0
    undecodable_batches: int = 0  # record batches the client could not decode: each offset dead-lettered
    alerts_failed: int = 0  # hot alerts the broker refused (the events themselves are landed)
    first_message_at: float | None = None  # monotonic clock; busy time excludes the idle wait
    last_flush_at: float | None = None

    @property
    def busy_seconds(self) -> float:
        if self.first_message_at is None or self.last_flush_at is None:
            return 0.0
        return self.last_flush_at - self.first_message_at


@dataclass
class _Stall:
    """The landing disk is full: batches wait in memory, fetching is paused, the write is retried."""

    since: float
    path: Path
    delay: float
    retry_at: float


class _Rebalance(ConsumerRebalanceListener):
    """Runs on kafka-python's IO thread, where no blocking consumer call is allowed: both hooks only
    touch local state (buffers, landing files, seek positions). The main thread is blocked in poll()
    meanwhile, so they never interleave with batching."""

    def __init__(self, owner: LandingConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Unwritten messages of lost partitions are dropped, never committed: their next owner
        # reads them again from the last landing file.
        self.owner.assigned = False
        # kafka-python keeps revoked partitions in assignment(), with their positions, until the
        # rejoin completes (often several polls later): only `_owned` says what is still ours.
        self.owner._owned = self.owner._owned - revoked
        open_batches = {tp: len(b) for tp, b in self.owner._buffers.items() if tp in revoked and len(b)}
        if open_batches:
            log.info(
                "revoked %d partitions with %d messages not landed (their next owner reads them again): %s",
                len(revoked),
                sum(open_batches.values()),
                _names(open_batches),
            )
        self.owner.discard(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.owner.resume_from_landing(assigned)
        self.owner._owned = self.owner._owned | assigned
        self.owner.metrics.assignment((tp.topic, tp.partition) for tp in assigned)
        self.owner.assigned = True
        log.info("assigned %d partitions: %s", len(assigned), _names(assigned) or "none")


def _names(partitions) -> str:
    """cx.surveys[0,2], cx.touchpoints[1] (log lines that tests and operators grep)."""
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}[{','.join(map(str, sorted(p)))}]" for t, p in sorted(by_topic.items()))


class LandingConsumer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hot: HotRules | None = None
        self.stats = ConsumeStats()
        self._buffers: dict[TopicPartition, _PartitionBuffer] = {}
        # Per partition, the first offset no landed batch covers yet (the start of the next batch).
        self._next: dict[TopicPartition, int] = {}
        self._oldest: float | None = None
        self._stop = False
        self._wake = threading.Event()  # set by request_stop: ends a wait at once (other threads)
        self._in_connect = False  # a signal may abandon the client being constructed
        self._stall: _Stall | None = None
        self.metrics = ConsumerMetrics()
        # True between an assignment and the next revocation: the group gave this process its share.
        self.assigned = False
        self._owned: frozenset[TopicPartition] = frozenset()  # the partitions the group gave this process
        self._caught_up_since: float | None = None  # --until-idle: the group has nothing left to land
        self._next_offsets_check = 0.0
        self._next_lag_refresh = 0.0
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._record_bytes = 1024.0  # mean message size seen lately: sizes each poll in bytes, not records
        self._observing: tuple[str, int, int] | None = None  # topic, partition, offset of the event at hand
        self._decoders = {
            settings.topic_touchpoints: ("touchpoints", decode_touchpoint),
            settings.topic_surveys: ("surveys", decode_survey),
        }

    # -- lifecycle --------------------------------------------------------------------------------
    def request_stop(self, *_: object) -> None:
        """Stop from any thread: the current wait ends at once, the loop flushes, commits and returns."""
        self._stop = True
        self._wake.set()

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only a flag: Event.set() from a handler can deadlock with an Event.wait() that this same
        # (main) thread is inside; _sleep looks at the flag every STOP_CHECK_S instead.
        self._stop = True
        if self._in_connect:  # blocked in a client's bootstrap (up to its timeout): give it up now
            self._in_connect = False
            raise _Interrupted

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(min(remaining, STOP_CHECK_S))

    def _connect(self) -> None:
        delay = 1.0
        while not self._stop:
            consumer = producer = None
            try:
                self._in_connect = True
                try:
                    common = {"bootstrap_timeout_ms": 5_000}
                    consumer = kafka_client(
                        KafkaConsumer,
                        self.settings,
                        "cxpulse-consumer",
                        group_id=self.settings.consumer_group,
                        enable_auto_commit=False,
                        auto_offset_reset="earliest",
                        max_poll_records=MAX_POLL_RECORDS,
                        # Aborted transactions are never delivered; open ones wait for their commit.
                        isolation_level="read_committed",
                        fetch_max_bytes=self.settings.fetch_max_bytes,
                        max_partition_fetch_bytes=max(self.settings.fetch_max_bytes // 4, 1024 * 1024),
                        # A killed consumer's partitions are handed over after this long, not the default 45 s.
                        session_timeout_ms=10_000,
                        heartbeat_interval_ms=3_000,
                        **common,
                    )
                    # Not idempotent (kafka-python 3's default): for an idempotent producer a message the
                    # broker refuses as too large is a fatal error that fails every later send, so one
                    # oversized dead letter or alert would stop the consumer. Both topics are at-least-once
                    # anyway (duplicates carry the same source headers / dedupe_key).
                    producer = kafka_client(
                        KafkaProducer,
                        self.settings,
                        "cxpulse-consumer",
                        acks="all",
                        linger_ms=5,
                        enable_idempotence=False,
                        **common,
                    )
                finally:
                    self._in_connect = False
            except _Interrupted:
                self._close_clients(consumer, producer)
                return
            except KafkaAccessError:  # refused (credentials, certificate): retrying cannot help
                self._close_clients(consumer, producer)
                raise
            except (KafkaTimeoutError, KafkaConnectionError):
                self._close_clients(consumer, producer)
                log.warning(
                    "Kafka broker at %s is not reachable; retrying in %.0f s "
                    "(start a local one with `cxpulse broker start`)",
                    self.settings.kafka_bootstrap,
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self._consumer, self._producer = consumer, producer
            self._hot = HotRules(self.settings, self._send_alert)
            self._consumer.subscribe(list(self.settings.source_topics), listener=_Rebalance(self))
            return

    @staticmethod
    def _close_clients(consumer: KafkaConsumer | None, producer: KafkaProducer | None) -> None:
        """Close with bounded waits: a broker that is down must not hold up a stop."""
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=int(CLOSE_TIMEOUT_S * 1000))
        if producer is not None:
            with contextlib.suppress(Exception):
                producer.close(timeout=CLOSE_TIMEOUT_S)

    def run(self, *, until_idle: bool = False) -> ConsumeStats:
        """Consume until SIGTERM/SIGINT, or with until_idle until the group is caught up (see _caught_up)."""
        # Signal handlers can only be set from the main thread (tests and embedders run us elsewhere).
        in_main = threading.current_thread() is threading.main_thread()
        previous = (
            {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)} if in_main else {}
        )
        try:
            log.info(
                "consuming %s from %s as group %s into %s",
                ", ".join(self.settings.source_topics),
                self.settings.kafka_bootstrap,
                self.settings.consumer_group,
                self.settings.landing_dir,
            )
            warm_up_arrow()
            if self.settings.metrics_port:
                self.metrics.serve(self.settings.metrics_port)
            # No record batch may decompress to more than the batch byte budget (streams.codecs).
            bound_decompression(self.settings.batch_max_bytes)
            self._connect()
            if self._consumer is None:
                return self.stats
            while not self._stop:
                if self._stall is not None:
                    self._pause_fetching()  # again: a rebalance may have assigned new partitions
                polled_at = time.monotonic()
                try:
                    records = self._consumer.poll(timeout_ms=200, max_records=self._poll_records())
                except Exception as exc:
                    if not self._isolate_undecodable(exc):
                        raise
                    continue
                if not records and time.monotonic() - polled_at < IDLE_POLL_MIN_S:
                    # kafka-python returns at once, without waiting, when its coordinator wants the next
                    # poll now (seen with nothing assigned and the group or broker unreachable): without
                    # this pause the loop spins a core for as long as that lasts.
                    self._sleep(IDLE_POLL_MIN_S)
                if records:
                    self._caught_up_since = None
                    if self.stats.first_message_at is None:
                        self.stats.first_message_at = time.monotonic()
                    self._accept(records)
                self._cover_skipped()
                if self._due():
                    self.flush()
                now = time.monotonic()
                if self.settings.metrics_port and now >= self._next_lag_refresh:
                    self._next_lag_refresh = now + LAG_REFRESH_S
                    self._refresh_lag()
                if until_idle and not records and now >= self._next_offsets_check:
                    self._next_offsets_check = now + CAUGHT_UP_CHECK_S
                    if not self._caught_up():
                        self._caught_up_since = None
                    elif self._caught_up_since is None:
                        self._caught_up_since = now
                    elif now - self._caught_up_since >= self.settings.idle_exit_seconds:
                        log.info(
                            "caught up: every partition of %s is landed to its end offset, stopping (--until-idle)",
                            ", ".join(self.settings.source_topics),
                        )
                        break
            self.flush()
            if self._stall is not None:
                log.warning(
                    "stopping with %d messages not landed (the landing disk is full, cannot write in %s): none "
                    "of them was committed, the next start reads them again from Kafka",
                    sum(len(b) for b in self._buffers.values()),
                    self._stall.path,
                )
            return self.stats
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._close_clients(self._consumer, self._producer)
            self.metrics.close()

    # -- batching ---------------------------------------------------------------------------------
    def _poll_records(self) -> int:
        """Records per poll so that one poll returns about a quarter of the batch byte budget: with
        10,000 records of 100 KB decompressed from a high-ratio batch, one poll would hold 1 GB."""
        return int(min(MAX_POLL_RECORDS, max(1, self.settings.batch_max_bytes / 4 / self._record_bytes)))

    def _accept(self, records: dict[TopicPartition, list]) -> None:
        now = datetime.now(UTC)
        count = size = 0
        for tp, messages in records.items():
            if tp not in self._owned:  # revoked in this very poll: its next owner reads them again
                continue
            kind, decode = self._decoders[tp.topic]
            buffer = self._buffers.setdefault(tp, _PartitionBuffer())
            if buffer.first_offset is None:
                buffer.first_offset = self._range_start(tp, messages[0].offset)
                buffer.opened_at = time.monotonic()
            before = buffer.nbytes
            for message in messages:
                value = message.value
                buffer.nbytes += len(value or b"") + len(message.key or b"")
                try:
                    event = decode(value, now)
                except ContractError as exc:
                    buffer.rejected.append(Rejected(message.offset, exc.reason, message.key, value))
                    continue
                buffer.events.append(event)
                buffer.payloads.append(value)
                buffer.offsets.append(message.offset)
                self._observing = (tp.topic, tp.partition, message.offset)
                try:
                    self._hot.observe(kind, event)
                except _TOO_LARGE as exc:  # refused at send() (max_request_size): the event still lands
                    self._alert_failed(self._observing, exc)
            buffer.last_offset = messages[-1].offset
            self.stats.consumed += len(messages)
            log.debug(
                "%s[%d]: %d messages held up to offset %d", tp.topic, tp.partition, len(buffer), buffer.last_offset
            )
            self.metrics.consumed.labels(tp.topic).inc(len(messages))
            count, size = count + len(messages), size + buffer.nbytes - before
        if count:
            self._record_bytes = max(64.0, 0.5 * self._record_bytes + 0.5 * size / count)
        if self._oldest is None:
            self._oldest = time.monotonic()

    # -- hot alerts ---------------------------------------------------------------------------------
    def _send_alert(self, topic: str, value: bytes, key: bytes) -> None:
        """Send one hot alert; a refusal is reported with the event's coordinates, never raised later."""
        source = self._observing
        future = self._producer.send(topic, value=value, key=key)
        future.add_errback(lambda exc: self._alert_failed(source, exc))

    def _alert_failed(self, source: tuple[str, int, int] | None, exc: BaseException) -> None:
        self.stats.alerts_failed += 1
        topic, partition, offset = source or ("?", -1, -1)
        log.error(
            "hot alert for %s[%d] offset %d not delivered to %s (%s: %s); the event is landed, the alert is "
            "not retried (at-most-once for refused alerts)",
            topic,
            partition,
            offset,
            self.settings.topic_alerts,
            type(exc).__name__,
            exc,
        )

    # -- a record batch the client cannot decode -------------------------------------------------
    def _isolate_undecodable(self, exc: Exception) -> bool:
        """When poll() failed on one partition's record batch (unknown or broken compression, failed
        CRC, corrupt records), dead-letter each offset of that batch and seek past it. False when the
        error is of another kind (the caller re-raises it).

        kafka-python raises from inside its record iterator without saying which partition or batch:
        both are read from the traceback (the frame of Fetcher.PartitionRecords._unpack_records of the
        pinned kafka-python; tests/integration/test_poison.py fails if that changes)."""
        tp = batch = None
        tb = exc.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_name == "_unpack_records" and "batch" in frame.f_locals:
                tp, batch = getattr(frame.f_locals.get("self"), "topic_partition", None), frame.f_locals["batch"]
            tb = tb.tb_next
        if tp is None or batch is None or tp.topic not in self._decoders:
            return False
        if tp not in self._owned:
            return True  # revoked: its next owner meets the batch again
        first, last = batch.base_offset, batch.last_offset
        try:
            delivered_up_to = self._consumer.position(tp, timeout_ms=0) or first
        except IllegalStateError:
            return True  # revoked meanwhile: its next owner meets the batch again
        codec = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}.get(batch.compression_type, "unknown")
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        reason = f"undecodable record batch (offsets {first}-{last}, {codec}): {detail}"
        log.error(
            "%s[%d] offsets %d-%d: %s; each offset goes to the dead letters and consumption goes on",
            tp.topic,
            tp.partition,
            first,
            last,
            reason,
        )
        raw = bytes(getattr(batch, "_buffer", b"")) or None  # the batch as fetched, kept once for forensics
        buffer = self._buffers.setdefault(tp, _PartitionBuffer())
        start = max(first, delivered_up_to)  # records of the batch already delivered stay delivered
        if buffer.first_offset is None:
            buffer.first_offset = self._range_start(tp, start)
            buffer.opened_at = time.monotonic()
        for offset in range(start, last + 1):
            buffer.rejected.append(Rejected(offset, reason, None, raw if offset == start else None))
        buffer.last_offset = max(last, buffer.last_offset if buffer.last_offset is not None else last)
        self.stats.consumed += last + 1 - start
        self.stats.undecodable_batches += 1
        if self._oldest is None:
            self._oldest = time.monotonic()
        self._consumer.seek(tp, last + 1)
        return True

    def _range_start(self, tp: TopicPartition, upper: int) -> int:
        """Where the next batch of `tp` starts: after the last landed batch, else where the group's
        consumption of it began (the committed offset, else the start of the log)."""
        start = self._next.get(tp)
        if start is None:
            start = self._consumer.committed(tp)
            if start is None:
                start = self._consumer.beginning_offsets([tp]).get(tp, upper)
            self._next[tp] = start
        return min(start, upper)

    def _cover_skipped(self) -> None:
        """Extend each partition's batch to the consumer's position. Under read_committed the position
        moves past transaction markers and aborted records without returning them (often in a poll with
        no record at all); the batch covering them is landed like any other, so that the consumed
        offset, the reconciliation and a restart all agree."""
        for tp in self._owned:
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except IllegalStateError:  # no longer assigned
                continue
            if position is None:
                continue
            buffer = self._buffers.get(tp)
            if buffer is not None and buffer.last_offset is not None:
                covered = buffer.last_offset + 1
            else:
                covered = self._range_start(tp, position)
            if position <= covered:
                continue
            if buffer is None:
                buffer = self._buffers[tp] = _PartitionBuffer()
            if buffer.first_offset is None:
                buffer.first_offset = covered
                buffer.opened_at = time.monotonic()
            buffer.last_offset = position - 1
            if self._oldest is None:
                self._oldest = time.monotonic()

    def _due(self) -> bool:
        if self._stall is not None:
            return time.monotonic() >= self._stall.retry_at
        if self._oldest is None:
            return False
        if time.monotonic() - self._oldest >= self.settings.batch_max_seconds:
            return True
        buffers = self._buffers.values()
        return (
            sum(len(b) for b in buffers) >= self.settings.batch_max_messages
            or sum(b.nbytes for b in buffers) >= self.settings.batch_max_bytes
        )

    def flush(self) -> None:
        """Make buffered batches durable, then commit their offsets. Never commits unwritten data."""
        pending = {tp: b for tp, b in self._buffers.items() if b.first_offset is not None}
        if not pending:
            if self._stall is not None:
                self._end_stall("its partitions were revoked, nothing is left to land")
            return
        received_at = datetime.now(UTC)
        dead = [(tp, r) for tp, b in pending.items() if not b.dead_letters_sent for r in b.rejected]
        if dead:
            self._publish_dead_letters(dead)
        for buffer in pending.values():
            buffer.dead_letters_sent = True
        commits: dict[TopicPartition, OffsetAndMetadata] = {}
        written: list[tuple[TopicPartition, _PartitionBuffer, float]] = []
        path: Path | None = None
        try:
            for tp, buffer in pending.items():
                write_started = time.monotonic()
                kind, _ = self._decoders[tp.topic]
                first, last = buffer.first_offset, buffer.last_offset
                with partition_lock(self.settings.landing_dir, tp.topic, tp.partition):
                    if self._fenced_off(tp, buffer):
                        continue
                    if buffer.rejected:
                        path = batch_path(self.settings.quarantine_dir, tp.topic, tp.partition, first, last)
                        write_durably(quarantine_table(buffer.rejected, tp.topic, tp.partition, received_at), path)
                    path = batch_path(self.settings.landing_dir, tp.topic, tp.partition, first, last)
                    table = events_table(kind, buffer.events, buffer.payloads, buffer.offsets, tp.topic, tp.partition)
                    write_durably(with_skipped(table, last - first + 1 - len(buffer)), path)
                commits[tp] = OffsetAndMetadata(last + 1, "", -1)
                written.append((tp, buffer, time.monotonic() - write_started))
                self._next[tp] = last + 1
                self.stats.valid += len(buffer.offsets)
                self.stats.rejected += len(buffer.rejected)
                self.stats.batches += 1
                self._buffers.pop(tp, None)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            self._disk_full(exc, path)
        else:
            if self._stall is not None:
                self._end_stall("the waiting batches are landed")
        finally:
            if not self._buffers:
                self._oldest = None
            if commits:  # only what is durable: the batches written before a failure
                self._commit(commits)
                self.stats.last_flush_at = time.monotonic()
                for tp, buffer, seconds in written:
                    self.metrics.batch_landed(
                        tp.topic, len(buffer.offsets), len(buffer.rejected), buffer.opened_at, seconds
                    )

    def _fenced_off(self, tp: TopicPartition, buffer: _PartitionBuffer) -> bool:
        """True (and the batch dropped) when it may not land: the partition is no longer this process's,
        or its landing files no longer end where the batch starts (another member of the group landed
        these offsets, after this process lost the partition without knowing it yet). Landing files
        tile each partition's offsets; the dropped messages are read again from where the files end."""
        landed = landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition)
        owned = tp in self._owned
        if owned and (landed is None or landed == buffer.first_offset):
            return False
        self._buffers.pop(tp, None)
        if not self._buffers:
            self._oldest = None
        log.warning(
            "%s[%d]: batch of offsets %d-%d not landed (%s); its %d messages are read again from offset %s",
            tp.topic,
            tp.partition,
            buffer.first_offset,
            buffer.last_offset,
            "the partition was revoked" if not owned else f"the landing files of the group end at {landed}",
            len(buffer),
            landed if landed is not None else "the group's committed offset",
        )
        if owned:
            self._next[tp] = landed
            self._consumer.seek(tp, landed)
        else:
            self._next.pop(tp, None)
        return True

    # -- a full landing disk --------------------------------------------------------------------
    def _disk_full(self, exc: OSError, path: Path | None) -> None:
        """Keep the unwritten batches, pause fetching, retry later: no crash loop, no loss, no commit."""
        now = time.monotonic()
        held = sum(len(b) for b in self._buffers.values())
        folder = path.parent if path is not None else self.settings.home
        first = self._stall is None
        if first:
            self._stall = _Stall(since=now, path=folder, delay=1.0, retry_at=now + 1.0)
            self.metrics.stalled.set(1)
        if self._stop:
            return  # the last attempt before exiting: run() says what is left unlanded
        if first:
            log.error(
                "landing disk full: cannot write %s ([Errno %d] %s). Consumption is paused and nothing is "
                "committed past the last landed batch; %d messages of %d partitions wait in memory. Free "
                "space on the filesystem of %s (`df -h %s`): run `cxpulse load`, then delete landing and "
                "quarantine files already loaded (keep the newest landing file of each partition), or grow "
                "the volume. The write is retried every %.0f s at most and consumption resumes by itself.",
                path,
                exc.errno,
                os.strerror(exc.errno),
                held,
                len(self._buffers),
                folder,
                folder,
                BACKOFF_MAX_S,
            )
        else:
            self._stall.delay = min(self._stall.delay * 2, BACKOFF_MAX_S)
            self._stall.retry_at = now + self._stall.delay
            self._stall.path = folder
            log.warning(
                "landing disk still full after %.0f s (cannot write %s): %d messages wait, retrying in %.0f s",
                now - self._stall.since,
                path,
                held,
                self._stall.delay,
            )
        self._pause_fetching()

    def _pause_fetching(self) -> None:
        if self._consumer is None:
            return
        assigned = self._consumer.assignment()
        if assigned:
            self._consumer.pause(*assigned)

    def _end_stall(self, why: str) -> None:
        stall, self._stall = self._stall, None
        self.metrics.stalled.set(0)
        if self._consumer is not None:
            paused = self._consumer.paused()
            if paused:
                self._consumer.resume(*paused)
        log.warning(
            "landing stall over after %.0f s (%s): %s; consumption resumed",
            time.monotonic() - stall.since,
            stall.path,
            why,
        )

    def _commit(self, commits: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            self._consumer.commit(commits, timeout_ms=COMMIT_TIMEOUT_MS)
        except (CommitFailedError, KafkaError) as exc:
            # Safe to skip: the files are durable and the next owner of the partition seeks past them.
            log.warning("offset commit failed (%s); landing files are durable, restart resumes after them", exc)

    def _publish_dead_letters(self, dead: list[tuple[TopicPartition, Rejected]]) -> None:
        futures = [(tp, rejected, self._send_dead_letter(tp, rejected)) for tp, rejected in dead]
        self._producer.flush()
        # The broker may allow less than we do (the topic's max.message.bytes): send a reference instead.
        retried = [
            (tp, rejected, self._send_dead_letter(tp, rejected, refused=f.exception))
            for tp, rejected, f in futures
            if f.failed() and isinstance(f.exception, _TOO_LARGE)
        ]
        if retried:
            self._producer.flush()
        failed = [f.exception for _, _, f in futures if f.failed() and not isinstance(f.exception, _TOO_LARGE)]
        failed += [f.exception for _, _, f in retried if f.failed()]
        if failed:
            # Nothing of this batch is written or committed: a restart reads it again from Kafka and
            # sends the dead letters again (at least once), rather than losing them.
            raise KafkaError(
                f"{len(failed)} dead letters not delivered to {self.settings.topic_deadletter}: {failed[0]!r}"
            )

    # -- caught up, lag ----------------------------------------------------------------------------
    def _group_stable(self) -> bool:
        """This process holds its assignment in a stable group, with no rebalance pending."""
        # kafka-python has no public call for "rebalance in progress": its coordinator knows.
        coordinator = self._consumer._coordinator
        return self.assigned and coordinator.stable() and not coordinator.need_rejoin()

    def _end_offsets(self, partitions: list[TopicPartition] | None = None) -> dict[TopicPartition, int] | None:
        if partitions is None:
            partitions = [
                TopicPartition(t, p)
                for t in self.settings.source_topics
                for p in sorted(self._consumer.partitions_for_topic(t) or ())
            ]
        try:
            return self._consumer.end_offsets(partitions, timeout_ms=OFFSETS_TIMEOUT_MS)
        except KafkaError as exc:
            log.debug("end offsets unavailable (%s)", exc)
            return None

    def _caught_up(self) -> bool:
        """--until-idle: the whole group has nothing left to land, as far as this process can see.

        Nothing buffered or stalled here; the group stable with this process's assignment done (a
        consumer still joining is never caught up, however long it waits); every partition of the
        source topics consumed to its end offset: the partitions this process owns by their position,
        the others by their landing files (the group's commit record, shared by its processes). So a
        process whose partitions are done keeps waiting while a SIGKILLed member still holds
        partitions with messages: it gets them when the group expires that member.
        """
        if self._stall is not None or any(b.first_offset is not None for b in self._buffers.values()):
            return False
        if not self._group_stable():
            return False
        ends = self._end_offsets()
        if not ends:
            return False
        mine = self._consumer.assignment()
        for tp, end in ends.items():
            if tp in mine:
                try:
                    position = self._consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS)
                except KafkaError:  # not known yet: ask again at the next check
                    return False
                if position is None or position < end:
                    return False
            elif (landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition) or 0) < end:
                return False
        return True

    def _refresh_lag(self) -> None:
        """The lag gauges: per assigned partition, end offset - next offset to land."""
        mine = sorted(self._consumer.assignment())
        ends = self._end_offsets(mine) if mine else None
        for tp, end in (ends or {}).items():
            buffer = self._buffers.get(tp)
            if buffer is not None and buffer.first_offset is not None:
                next_to_land = buffer.first_offset
            else:
                try:
                    next_to_land = self._consumer.position(tp, timeout_ms=OFFSETS_TIMEOUT_MS)
                except KafkaError:
                    continue
            if next_to_land is not None:
                self.metrics.set_lag(tp.topic, tp.partition, max(0, end - next_to_land))

    def _send_dead_letter(self, tp: TopicPartition, rejected: Rejected, refused: BaseException | None = None):
        """Send one dead letter: the original bytes, or a reference record when they cannot fit.

        The quarantine file (and ops.deadletters) always keeps the original bytes whole; the topic gets
        {"cx_reference": ..., source topic/partition/offset, reason, size, sha256} when the message would
        exceed DEAD_LETTER_MAX_BYTES or the broker refused it as too large."""
        original = rejected.original or b""
        headers = [
            ("cx.error", rejected.error.encode()),
            ("cx.source.topic", tp.topic.encode()),
            ("cx.source.partition", str(tp.partition).encode()),
            ("cx.source.offset", str(rejected.offset).encode()),
        ]
        size = len(original) + len(rejected.key or b"") + sum(len(k) + len(v) for k, v in headers)
        value, key = original, rejected.key
        if refused is not None or size > DEAD_LETTER_MAX_BYTES:
            why = f"refused by the broker: {refused}" if refused is not None else f"over {DEAD_LETTER_MAX_BYTES} bytes"
            log.warning(
                "%s[%d] offset %d: dead letter of %d bytes %s; sent as a reference record (the original is in "
                "the quarantine file and ops.deadletters)",
                tp.topic,
                tp.partition,
                rejected.offset,
                len(original),
                why,
            )
            value = json.dumps(
                {
                    "cx_reference": "the original message is too large for the dead-letter topic",
                    "source": {"topic": tp.topic, "partition": tp.partition, "offset": rejected.offset},
                    "reason": rejected.error[:1000],
                    "size": len(original),
                    "sha256": hashlib.sha256(original).hexdigest(),
                }
            ).encode()
            key = None  # a key can be up to the message size too
            headers[0] = ("cx.error", rejected.error[:1000].encode())
            headers.append(("cx.replaced", why[:1000].encode()))
        try:
            return self._producer.send(self.settings.topic_deadletter, value=value, key=key, headers=headers)
        except MessageSizeTooLargeError as exc:  # kafka-python checks max_request_size at send()
            if refused is not None:
                raise
            return self._send_dead_letter(tp, rejected, refused=exc)

    # -- restart ----------------------------------------------------------------------------------
    def discard(self, partitions: set[TopicPartition]) -> None:
        for tp in partitions:
            self._buffers.pop(tp, None)
            self._next.pop(tp, None)
        if not self._buffers:
            self._oldest = None

    def resume_from_landing(self, assigned: set[TopicPartition]) -> None:
        """Seek each newly assigned partition past its last landed batch and clear crash leftovers.

        Landing files, not Kafka's committed offset, say where to resume: a crash between a file's
        rename and the commit must not land that batch twice. Retention keeps the newest landing
        file of every partition, so the files never lag behind the commit.
        """
        self.discard(assigned)
        for tp in assigned:
            # Under the partition's lock: a former owner still writing a batch finishes it first.
            with partition_lock(self.settings.landing_dir, tp.topic, tp.partition):
                landed = landed_next_offset(self.settings.landing_dir, tp.topic, tp.partition)
                # Nothing landed yet: every quarantine file of the partition is from a first batch that
                # never completed (it would otherwise be loaded beside its redo as duplicate dead letters).
                removed = remove_incomplete(
                    self.settings.quarantine_dir, self.settings.landing_dir, tp.topic, tp.partition, landed or 0
                )
            if removed:
                log.info("%s[%d]: removed %d leftovers of an interrupted batch", tp.topic, tp.partition, removed)
            if landed is None:
                continue  # Kafka's committed offset (or the earliest) applies
            self._next[tp] = landed
            log.info("%s[%d]: resuming after the last landed batch, at offset %d", tp.topic, tp.partition, landed)
            self._consumer.seek(tp, landed)
