"""Loader: ledger, dedupe, rerun idempotency and all-or-nothing batches, on real DuckDB and Parquet files."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import pytest

from cxpulse.config import Settings
from streams.landing import Rejected, batch_path, quarantine_table, write_durably
from warehouse import loader
from warehouse.db import connect

NOW = datetime(2026, 3, 15, tzinfo=UTC)
TOPIC = "cx.touchpoints"


def contact(event_id: str, occurred_at: str = "2026-03-10T01:30:00+02:00") -> bytes:
    return (
        f'{{"event_type":"contact","event_id":"{event_id}","occurred_at":"{occurred_at}","customer_id":"c1",'
        f'"channel":"phone","touchpoint":"q","contact_id":"k","outcome":"abandoned","wait_s":3,"reason":"r",'
        f'"unknown_field":{{"kept":true}}}}'
    ).encode()


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    connection = connect(settings.warehouse_path)
    yield connection
    connection.close()


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def test_load_dedupes_redeliveries_and_counts_them(settings: Settings, land, con) -> None:
    land(settings, "touchpoints", [contact("a"), contact("b"), contact("a")])  # "a" redelivered in the same file
    land(settings, "touchpoints", [contact("b"), contact("c")], 0, partition=1)  # "b" redelivered in another partition
    result = loader.load(con, settings)
    assert result.rows_loaded == {"raw.touchpoints": 3}
    assert result.duplicates_dropped == {"raw.touchpoints": 2}
    assert sorted(r[0] for r in con.execute("select event_id from raw.touchpoints").fetchall()) == [
        "a",
        "b",
        "c",
    ]
    # 3 + 2 messages = 3 loaded + 2 duplicates, per file in the ledger too
    assert count(con, "select sum(rows_in_file) from ops.loaded_files") == 5
    assert count(con, "select sum(rows_loaded) + sum(duplicates_dropped) from ops.loaded_files") == 5


def test_rerun_loads_nothing_twice(settings: Settings, land, con) -> None:
    land(settings, "touchpoints", [contact("a"), contact("b")])
    loader.load(con, settings)
    again = loader.load(con, settings)
    assert again.files == 0 and again.rows_loaded == {}
    land(settings, "touchpoints", [contact("b"), contact("c")], 2, partition=0)  # later file: b is a redelivery
    third = loader.load(con, settings)
    assert third.rows_loaded == {"raw.touchpoints": 1} and third.duplicates_dropped == {"raw.touchpoints": 1}
    assert count(con, "select count(*) from raw.touchpoints") == 3


def test_timestamps_are_utc_and_payload_keeps_unknown_fields(settings: Settings, land, con) -> None:
    land(settings, "touchpoints", [contact("a", "2026-03-10T01:30:00+02:00")])
    loader.load(con, settings)
    occurred, payload, day = con.execute(
        "select occurred_at, payload, cast(occurred_at as date) from raw.touchpoints"
    ).fetchone()
    assert occurred == datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert day == date(2026, 3, 9)
    assert '"unknown_field":{"kept":true}' in payload
    assert con.execute("select day from ops.dirty_days").fetchall() == [(date(2026, 3, 9),)]


def test_quarantine_files_load_into_deadletters_with_reason_and_bytes(settings: Settings, con) -> None:
    rejected = [Rejected(7, "not JSON: truncated", b"key", b'{"a":'), Rejected(8, "empty message", None, b"")]
    write_durably(quarantine_table(rejected, TOPIC, 2, NOW), batch_path(settings.quarantine_dir, TOPIC, 2, 7, 8))
    result = loader.load(con, settings)
    assert result.dead_letters == 2
    rows = con.execute('select "offset", error, original from ops.deadletters order by 1').fetchall()
    assert rows == [(7, "not JSON: truncated", b'{"a":'), (8, "empty message", b"")]
    assert loader.load(con, settings).dead_letters == 0


def test_crash_inside_a_batch_leaves_nothing_and_rerun_completes(settings: Settings, land, con, monkeypatch) -> None:
    land(settings, "touchpoints", [contact("a"), contact("b")])

    def boom(*_args, **_kwargs):
        raise RuntimeError("killed mid-transaction")

    original = loader._stage_ledger
    monkeypatch.setattr(loader, "_stage_ledger", boom)  # rows already inserted when this fails
    with pytest.raises(RuntimeError):
        loader.load(con, settings)
    assert count(con, "select count(*) from raw.touchpoints") == 0
    assert count(con, "select count(*) from ops.loaded_files") == 0
    assert count(con, "select count(*) from ops.dirty_days") == 0
    monkeypatch.setattr(loader, "_stage_ledger", original)
    assert loader.load(con, settings).rows_loaded == {"raw.touchpoints": 2}


def test_surveys_load_with_scores(settings: Settings, land, con) -> None:
    raw = (
        b'{"response_id":"r1","occurred_at":"2026-03-10T10:00:00Z","customer_id":"c","channel":"chat",'
        b'"touchpoint":"web_chat","survey":"post_contact","ces":6}'
    )
    land(settings, "surveys", [raw])
    assert loader.load(con, settings).rows_loaded == {"raw.surveys": 1}
    assert con.execute("select nps, ces from raw.surveys").fetchone() == (None, 6)
