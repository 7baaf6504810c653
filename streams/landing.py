"""Durable Parquet files of the landing zone and the quarantine, and the progress they record.

Layout (under the data home):
  landing/<topic>/<partition>/<first>-<last>.parquet     valid events of offsets first..last
  quarantine/<topic>/<partition>/<first>-<last>.parquet  rejected messages of the same range

Offsets are zero-padded to 20 digits so that name order is offset order. A batch's range covers every
offset the consumer moved past, messages or not: under read_committed the broker never delivers the
control records (commit/abort markers) of transactions nor the records of aborted ones, and these
offsets belong to the batch that moved past them. The landing file records their number in its
Parquet metadata (`cxpulse.skipped_offsets`): offsets in range = rows + quarantined rows + skipped.
Each batch writes its quarantine file first and its landing file last, even when the batch has no
valid event (an empty file with the schema): the landing file is the batch's commit record. A
consumer that restarts seeks past the last landing file and removes quarantine files of a batch that
never completed, so a crash at any instant neither loses nor repeats a message, whatever Kafka's
committed offset says.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pyarrow as pa
import pyarrow.parquet as pq

from cxpulse.files import PRIVATE_FILE, make_private_dirs
from streams.contracts import TOUCHPOINT_TYPES, SurveyResponse

_NAME = re.compile(r"^(\d{20})-(\d{20})\.parquet$")
_ARROW_TYPES: dict[type, pa.DataType] = {
    mi.StrType: pa.string(),
    mi.FloatType: pa.float64(),
    mi.IntType: pa.int16(),
    mi.BoolType: pa.bool_(),
    mi.DateTimeType: pa.timestamp("us", tz="UTC"),
    mi.EnumType: pa.string(),
    mi.LiteralType: pa.string(),
}
SKIPPED_KEY = b"cxpulse.skipped_offsets"
KAFKA_COLUMNS = [("kafka_topic", pa.string()), ("kafka_partition", pa.int32()), ("kafka_offset", pa.int64())]


def _arrow_type(annotation: Any) -> pa.DataType:
    """Map a contract field's type (possibly constrained or optional) to its Arrow column type."""
    info = mi.type_info(annotation)
    if isinstance(info, mi.Metadata):
        info = info.type
    if isinstance(info, mi.UnionType):
        info = next(t for t in info.types if not isinstance(t, mi.NoneType))
    if isinstance(info, mi.Metadata):
        info = info.type
    return _ARROW_TYPES[type(info)]


def _contract_columns(classes: tuple[type[msgspec.Struct], ...]) -> list[tuple[str, pa.DataType]]:
    columns: dict[str, pa.DataType] = {}
    for cls in classes:
        for f in msgspec.structs.fields(cls):
            columns.setdefault(f.name, _arrow_type(f.type))
    return list(columns.items())


TOUCHPOINT_FIELDS = [("event_type", pa.string()), *_contract_columns(TOUCHPOINT_TYPES)]
SURVEY_FIELDS = _contract_columns((SurveyResponse,))
TOUCHPOINT_SCHEMA = pa.schema([*TOUCHPOINT_FIELDS, ("payload", pa.binary()), *KAFKA_COLUMNS])
SURVEY_SCHEMA = pa.schema([*SURVEY_FIELDS, ("payload", pa.binary()), *KAFKA_COLUMNS])
QUARANTINE_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("error", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("key", pa.binary()),
        ("original", pa.binary()),
    ]
)


@dataclass(frozen=True)
class Rejected:
    offset: int
    error: str
    key: bytes | None
    original: bytes | None


def warm_up_arrow() -> None:
    """pyarrow imports pandas on its first list conversion (~1.5 s here): a consumer pays that at
    start-up rather than in its first batch, while its partitions wait."""
    pa.array([0], pa.int64())


def events_table(
    kind: str, events: list[Any], payloads: list[bytes], offsets: list[int], topic: str, partition: int
) -> pa.Table:
    """Build the landing table column by column (one Python list per column, no row dicts)."""
    fields = TOUCHPOINT_FIELDS if kind == "touchpoints" else SURVEY_FIELDS
    schema = TOUCHPOINT_SCHEMA if kind == "touchpoints" else SURVEY_SCHEMA
    columns: list[pa.Array] = []
    for name, arrow_type in fields:
        if name == "event_type":
            values = [type(e).__struct_config__.tag for e in events]
        else:
            values = [getattr(e, name, None) for e in events]
        columns.append(pa.array(values, arrow_type))
    n = len(events)
    columns.append(pa.array(payloads, pa.binary()))
    columns.append(pa.array([topic] * n, pa.string()))
    columns.append(pa.array([partition] * n, pa.int32()))
    columns.append(pa.array(offsets, pa.int64()))
    return pa.Table.from_arrays(columns, schema=schema)


def with_skipped(table: pa.Table, skipped: int) -> pa.Table:
    """The landing table with the number of offsets of its range that held no message for us."""
    return table.replace_schema_metadata({**(table.schema.metadata or {}), SKIPPED_KEY: str(skipped).encode()})


def skipped_offsets(path: Path) -> int:
    """Offsets of a landing file's range that held no message (transaction markers, aborted records)."""
    metadata = pq.ParquetFile(path).schema_arrow.metadata or {}
    return int(metadata.get(SKIPPED_KEY, b"0"))


def quarantine_table(rejected: list[Rejected], topic: str, partition: int, received_at: datetime) -> pa.Table:
    n = len(rejected)
    return pa.Table.from_arrays(
        [
            pa.array([topic] * n, pa.string()),
            pa.array([partition] * n, pa.int32()),
            pa.array([r.offset for r in rejected], pa.int64()),
            pa.array([r.error for r in rejected], pa.string()),
            pa.array([received_at] * n, pa.timestamp("us", tz="UTC")),
            pa.array([r.key for r in rejected], pa.binary()),
            pa.array([r.original for r in rejected], pa.binary()),
        ],
        schema=QUARANTINE_SCHEMA,
    )


def batch_path(root: Path, topic: str, partition: int, first: int, last: int) -> Path:
    return root / topic / str(partition) / f"{first:020d}-{last:020d}.parquet"


def parse_batch_name(path: Path) -> tuple[int, int] | None:
    match = _NAME.match(path.name)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class BatchFile:
    """A complete landing or quarantine file and what its path says."""

    path: Path
    topic: str
    partition: int
    first_offset: int
    last_offset: int


def batch_files(root: Path) -> Iterator[BatchFile]:
    """Every complete batch file under a landing or quarantine root (temporary files left out), by
    topic folder, partition folder, then offset."""
    if not root.is_dir():
        return
    for path in sorted(root.glob("*/*/*.parquet"), key=lambda p: (p.parent, p.name)):
        parsed = parse_batch_name(path)
        if parsed:
            yield BatchFile(path, path.parent.parent.name, int(path.parent.name), *parsed)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, write: Callable[[Path], object], *, private: bool = False) -> Path:
    """`write(tmp)` fills a temporary file beside `path`; it is fsynced, renamed over `path`, and the
    directory fsynced: a reader sees the old file or the new one, whole, never a part of one.
    `private`: the file holds personal data: folders 0700, file 0600, whatever the umask."""
    if private:
        make_private_dirs(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        if private:
            os.chmod(tmp, PRIVATE_FILE)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A full disk (ENOSPC) fails the write or the fsync: leave no partial file taking space.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def write_durably(table: pa.Table, path: Path) -> None:
    """A Parquet batch file, written atomically and durably: it exists whole or not at all. Landing and
    quarantine files hold personal data: folders 0700, files 0600."""
    # zstd level 1: most of the size gain of zstd at a fraction of the CPU (the consumer is CPU-bound).
    write_atomically(
        path, lambda tmp: pq.write_table(table, tmp, compression="zstd", compression_level=1), private=True
    )


@contextlib.contextmanager
def partition_lock(landing_root: Path, topic: str, partition: int) -> Iterator[None]:
    """Exclusive hold on one partition's landing, across the processes of a consumer group.

    A consumer that lost a partition without knowing it yet (its session expired while it was busy)
    may still try to land a batch of it while the new owner lands the same offsets. Checking the
    landing end and writing under this lock makes the landing files the fence: a batch is written only
    if it starts where the partition's files end. The lock files live in `<landing>/.locks/`, out of
    every batch-file glob; flock is released by the kernel when a process dies."""
    folder = landing_root / ".locks" / topic
    make_private_dirs(folder)
    fd = os.open(folder / f"{partition}.lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def landed_next_offset(landing_root: Path, topic: str, partition: int) -> int | None:
    """Offset after the last completed batch of this partition, or None when nothing has landed."""
    folder = landing_root / topic / str(partition)
    if not folder.is_dir():
        return None
    last = None
    for entry in folder.iterdir():
        parsed = parse_batch_name(entry)
        if parsed and (last is None or parsed[1] > last):
            last = parsed[1]
    return None if last is None else last + 1


def remove_incomplete(quarantine_root: Path, landing_root: Path, topic: str, partition: int, next_offset: int) -> int:
    """Delete what a crashed batch left behind: temp files, and quarantine files at or past `next_offset`.

    `next_offset` is `landed_next_offset(...)`, or 0 when nothing has landed yet: a quarantine file of a
    partition without any landing file belongs to a first batch that never completed (the newest landing
    file of a partition is never pruned).
    """
    removed = 0
    for root in (quarantine_root, landing_root):
        folder = root / topic / str(partition)
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            parsed = parse_batch_name(entry)
            stale_tmp = entry.name.endswith(".tmp")
            orphan = root is quarantine_root and parsed is not None and parsed[0] >= next_offset
            if stale_tmp or orphan:
                entry.unlink()
                removed += 1
    return removed
