"""BI access: the published snapshot opens read-only while the live file is being written."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import duckdb
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
