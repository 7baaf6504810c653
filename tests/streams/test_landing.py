from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from streams.landing import (
    TOUCHPOINT_SCHEMA,
    Rejected,
    batch_path,
    events_table,
    landed_next_offset,
    parse_batch_name,
    quarantine_table,
    remove_incomplete,
    write_durably,
)

T = "cx.touchpoints"


def test_batch_names_sort_by_offset_and_parse_back(tmp_path: Path) -> None:
    p9 = batch_path(tmp_path, T, 0, 9, 9)
    p10 = batch_path(tmp_path, T, 0, 10, 120)
    assert p9.name < p10.name
    assert parse_batch_name(p10) == (10, 120)
    assert parse_batch_name(tmp_path / ".x.parquet.tmp") is None


def test_empty_batch_still_writes_a_landing_file_with_the_schema(tmp_path: Path) -> None:
    path = batch_path(tmp_path, T, 0, 0, 4)
    write_durably(events_table("touchpoints", [], [], [], T, 0), path)
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.equals(TOUCHPOINT_SCHEMA)
    assert not list(path.parent.glob("*.tmp"))


def test_progress_and_crash_leftovers(tmp_path: Path) -> None:
    landing, quarantine = tmp_path / "landing", tmp_path / "quarantine"
    assert landed_next_offset(landing, T, 0) is None
    empty = events_table("touchpoints", [], [], [], T, 0)
    write_durably(empty, batch_path(landing, T, 0, 0, 99))
    write_durably(empty, batch_path(landing, T, 0, 100, 149))
    q = quarantine_table([Rejected(120, "empty message", None, b"")], T, 0, datetime.now(UTC))
    write_durably(q, batch_path(quarantine, T, 0, 100, 149))  # belongs to a completed batch: kept
    write_durably(q, batch_path(quarantine, T, 0, 150, 160))  # its landing file never came: orphan
    (batch_path(landing, T, 0, 150, 160).parent / ".00000000000000000150-00000000000000000160.parquet.tmp").touch()
    assert landed_next_offset(landing, T, 0) == 150
    assert remove_incomplete(quarantine, landing, T, 0, 150) == 2
    assert [p.name for p in sorted((quarantine / T / "0").iterdir())] == [batch_path(quarantine, T, 0, 100, 149).name]
    assert not list((landing / T / "0").glob("*.tmp"))
