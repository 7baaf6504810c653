"""BI access: the published snapshot opens read-only while the live file is being written."""

from __future__ import annotations

import dataclasses
import os
import stat
import struct
import threading
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cxpulse.config import Settings
from warehouse.db import connect
from warehouse.publish import export_parquet, publish_snapshot


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), home=tmp_path)


def test_reader_always_sees_a_complete_snapshot_while_runs_write_and_publish(settings: Settings) -> None:
    writer = connect(settings.warehouse_path)
    writer.execute("create table marts.counter as select 0 as n, 0 as half")
    publish_snapshot(writer, settings)
    seen: list[tuple[int, int]] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def bi_reader() -> None:
        while not stop.is_set():
            try:
                con = duckdb.connect(str(settings.published_path), read_only=True)
                seen.append(con.execute("select n, half from marts.counter").fetchall()[0])
                con.close()
            except Exception as exc:  # any lock or corruption error fails the test
                errors.append(exc)

    reader = threading.Thread(target=bi_reader)
    reader.start()
    try:
        for i in range(1, 30):
            # a run writes the live file (two statements: a half-written state must never be published)
            writer.execute("update marts.counter set n = ?", [i])
            writer.execute("update marts.counter set half = ?", [i])
            publish_snapshot(writer, settings)
    finally:
        stop.set()
        reader.join()
        writer.close()
    assert not errors, errors[:3]
    assert len(seen) >= 3  # the reader really ran while runs published
    assert all(n == half for n, half in seen), "a snapshot showed a half-finished run"
    assert seen == sorted(seen)


def test_published_file_is_read_only_and_exports_are_parquet(settings: Settings) -> None:
    writer = connect(settings.warehouse_path)
    writer.execute("create table marts.kpi_demo as select 1 as x")
    published = publish_snapshot(writer, settings)
    exports = export_parquet(writer, settings)
    writer.execute("insert into marts.kpi_demo values (2)")  # the live file keeps being written...
    reader = duckdb.connect(str(published), read_only=True)  # ...while a BI tool opens the snapshot
    assert reader.execute("select count(*) from marts.kpi_demo").fetchall() == [(1,)]
    with pytest.raises(duckdb.Error):
        reader.execute("insert into marts.kpi_demo values (3)")
    reader.close()
    writer.close()
    assert [p.name for p in exports] == ["marts.kpi_demo.parquet"]
    assert duckdb.sql(f"select x from '{exports[0]}'").fetchall() == [(1,)]
    assert pd.read_parquet(exports[0])["x"].tolist() == [1]  # the pandas recipe of docs/bi.md


def test_snapshot_is_written_fresh_with_the_marts_only_in_the_configured_storage_version(
    settings: Settings,
) -> None:
    writer = connect(settings.warehouse_path)
    writer.execute("create table marts.kpi_demo as select 'kept-row' as label")
    writer.execute("insert into marts.kpi_demo values ('erased-row-0451')")
    writer.execute("create table raw.secrets as select 'customer-in-raw-0042' as customer_id")
    writer.execute("create table ops.notes as select 'ops-only-0043' as note")
    writer.execute("create view staging.v as select * from raw.secrets")
    writer.execute("checkpoint")
    writer.execute("delete from marts.kpi_demo where label = 'erased-row-0451'")
    published = publish_snapshot(writer, settings)
    writer.close()
    assert b"erased-row-0451" in settings.warehouse_path.read_bytes()  # deleted, yet still in the live file
    data = published.read_bytes()
    for text in (b"erased-row-0451", b"customer-in-raw-0042", b"ops-only-0043"):
        assert text not in data  # not a byte copy: deleted rows and other schemas are not there
    assert struct.unpack("<Q", data[12:20])[0] == 64  # storage version of the v1.0.0 line
    reader = duckdb.connect(str(published), read_only=True)
    tables = reader.execute("select table_schema, table_name, table_type from information_schema.tables").fetchall()
    assert tables == [("marts", "kpi_demo", "BASE TABLE")]
    assert reader.execute("select label from marts.kpi_demo").fetchall() == [("kept-row",)]
    reader.close()
    assert not list(settings.published_path.parent.glob(".*"))  # no temporary file or WAL left behind

    newer = dataclasses.replace(settings, publish_storage_version="v1.4.0")
    writer = connect(settings.warehouse_path)
    publish_snapshot(writer, newer)
    with pytest.raises(ValueError, match="publish_storage_version must be one of v1.0.0"):
        publish_snapshot(writer, dataclasses.replace(settings, publish_storage_version="v9"))
    writer.close()
    assert struct.unpack("<Q", settings.published_path.read_bytes()[12:20])[0] == 67  # the v1.4.0 line


@pytest.mark.parametrize("readable_by, export_mode", [("owner", 0o600), ("group", 0o640), ("all", 0o644)])
def test_snapshot_is_owner_only_and_exports_follow_the_config(
    settings: Settings, readable_by: str, export_mode: int
) -> None:
    previous = os.umask(0o022)  # a umask that would leave everything world-readable
    try:
        settings = dataclasses.replace(settings, aggregates_readable_by=readable_by)
        writer = connect(settings.warehouse_path)
        writer.execute("create table marts.kpi_demo as select 1 as x")
        published = publish_snapshot(writer, settings)
        exports = export_parquet(writer, settings)
        writer.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(settings.warehouse_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.warehouse_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(published.stat().st_mode) == 0o600
    assert stat.S_IMODE(published.parent.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in exports] == [export_mode]
