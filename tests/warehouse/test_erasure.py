"""`cxpulse forget`: one customer disappears from tables, files and marts; the counts still reconcile."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from cxpulse.config import Settings
from cxpulse.pipeline import forget_step, load_step, transform_step
from cxpulse.reconcile import check_balanced, reconcile
from streams.contracts import decode_survey, decode_touchpoint
from streams.landing import Rejected, batch_path, events_table, quarantine_table, write_durably
from streams.sample import generate


def test_forget_erases_everywhere_and_keeps_the_books_balanced(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        Settings(), home=tmp_path, kafka_bootstrap="localhost:1", erasure_salt="a-test-salt-0123456789"
    )
    now = datetime.now(UTC)
    sample = generate(customers=200, seed=6, with_malformed=False, duplicate_rate=0)
    for kind, topic, messages, decode in (
        ("touchpoints", "cx.touchpoints", sample.touchpoints, decode_touchpoint),
        ("surveys", "cx.surveys", sample.surveys, decode_survey),
    ):
        n = len(messages)
        last = n if kind == "touchpoints" else n - 1  # touchpoint offset n: the dead letter below
        write_durably(
            events_table(kind, [decode(m, now) for m in messages], messages, list(range(n)), topic, 0),
            batch_path(settings.landing_dir, topic, 0, 0, last),
        )
    target = "cust-6-00007"
    write_durably(
        quarantine_table(
            [
                Rejected(
                    len(sample.touchpoints), "contract: ...", None, f'{{"customer_id": "{target}", "nps": 99'.encode()
                )
            ],
            "cx.touchpoints",
            0,
            now,
        ),
        batch_path(settings.quarantine_dir, "cx.touchpoints", 0, 0, len(sample.touchpoints)),
    )
    load_step(settings)
    transform_step(settings)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    events = con.execute("select count(*) from raw.touchpoints where customer_id = ?", [target]).fetchall()[0][0]
    answers = con.execute("select count(*) from raw.surveys where customer_id = ?", [target]).fetchall()[0][0]
    offered_before = con.execute("select sum(offered) from marts.kpi_service_daily where channel = 'all'").fetchall()[
        0
    ][0]
    their_contacts = con.execute(
        "select count(*) from staging.stg_contacts where customer_id = ?", [target]
    ).fetchall()[0][0]
    con.close()
    assert events > 0

    result = forget_step(settings, target)
    assert (result.raw_rows, result.dead_letters) == (events + answers, 1)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    for table in ("raw.touchpoints", "raw.surveys"):
        assert con.execute(f"select count(*) from {table} where customer_id = ?", [target]).fetchall() == [(0,)]
    assert con.execute("select count(*) from ops.deadletters").fetchall() == [(0,)]
    assert con.execute("select sum(offered) from marts.kpi_service_daily where channel = 'all'").fetchall()[0][0] == (
        offered_before - their_contacts
    )
    ledger = con.execute("select subject_hash, sum(rows_erased) from ops.erasures group by all").fetchall()
    assert len(ledger) == 1 and target not in ledger[0][0] and ledger[0][1] == events + answers + 1
    check_balanced(reconcile(con, settings, with_kafka=False))
    con.close()
    for path in settings.landing_dir.rglob("*.parquet"):
        assert target not in pq.read_table(path, columns=["customer_id"])["customer_id"].to_pylist()
    for path in settings.quarantine_dir.rglob("*.parquet"):
        assert all(target.encode() not in (v or b"") for v in pq.read_table(path)["original"].to_pylist())
    # The snapshot holds the marts only (no raw table at all), and none of its bytes spell the id.
    published = duckdb.connect(str(settings.published_path), read_only=True)
    assert published.execute("select distinct table_schema from information_schema.tables").fetchall() == [("marts",)]
    published.close()
    assert target.encode() not in settings.published_path.read_bytes()
