"""The partition buffers and their flush to durable landing files: a batch per partition, bounded in
messages, bytes and age; dead letters and the quarantine file first, the landing file next, offsets last;
the fence that keeps a batch off a partition this process no longer owns; a full disk as a stall.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import TopicPartition
from kafka.errors import CommitFailedError, IllegalStateError, KafkaError
from kafka.structs import OffsetAndMetadata

from streams.consumer.dead_letters import _TOO_LARGE
from streams.contracts import ContractError
from streams.landing import (
    Rejected,
    batch_path,
    events_table,
    landed_next_offset,
    partition_lock,
    quarantine_table,
    with_skipped,
    write_durably,
)

# One logger for the whole consumer: operators and tests grep "streams.consumer: ..." lines.
log = logging.getLogger("streams.consumer")

BACKOFF_MAX_S = 30.0
COMMIT_TIMEOUT_MS = 10_000  # a failed commit is harmless (the landing files say where to resume)
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
MAX_POLL_RECORDS = 10_000


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
class _Stall:
    """The landing disk is full: batches wait in memory, fetching is paused, the write is retried."""

    since: float
    path: Path
    delay: float
    retry_at: float


class Batching:
    """The batching of LandingConsumer (a mixin: the state is declared in LandingConsumer.__init__)."""

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
