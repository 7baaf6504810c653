"""`cxpulse forget`: one customer disappears from tables, files and marts; the counts still reconcile."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from cxpulse.config import Settings, to_env
from cxpulse.pipeline import forget_step, load_step, run_once, transform_step
from cxpulse.reconcile import check_balanced, reconcile
from streams.contracts import decode_survey, decode_touchpoint
from streams.landing import Rejected, batch_path, events_table, quarantine_table, write_durably
from tests.sample import generate


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
    for table in ("raw.touchpoints", "raw.surveys", "ops.customers"):
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


SALT = "a-test-salt-0123456789"


def land_with_dead_letters(settings: Settings, dead: list[tuple[bytes | None, bytes | None]]) -> None:
    """Land the seed-6 sample (customers cust-6-00000 .. cust-6-00199) and one quarantine file holding
    `dead` as (key, original) dead letters at the touchpoint offsets after the valid events."""
    now = datetime.now(UTC)
    sample = generate(customers=200, seed=6, with_malformed=False, duplicate_rate=0)
    n = len(sample.touchpoints)
    for kind, topic, messages, decode, last in (
        ("touchpoints", "cx.touchpoints", sample.touchpoints, decode_touchpoint, n + len(dead) - 1),
        ("surveys", "cx.surveys", sample.surveys, decode_survey, len(sample.surveys) - 1),
    ):
        write_durably(
            events_table(kind, [decode(m, now) for m in messages], messages, list(range(len(messages))), topic, 0),
            batch_path(settings.landing_dir, topic, 0, 0, last),
        )
    rejected = [Rejected(n + i, "contract: test", key, original) for i, (key, original) in enumerate(dead)]
    write_durably(
        quarantine_table(rejected, "cx.touchpoints", 0, now),
        batch_path(settings.quarantine_dir, "cx.touchpoints", 0, 0, n + len(dead) - 1),
    )


def counts(settings: Settings) -> tuple[int, int, int]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(
            "select (select count(*) from raw.touchpoints), (select count(*) from raw.surveys), "
            "(select count(*) from ops.deadletters)"
        ).fetchall()[0]
    finally:
        con.close()


def test_an_id_that_is_a_prefix_of_others_erases_nothing_of_theirs(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1", erasure_salt=SALT)
    prefix = "cust-6-0000"  # no customer has it; cust-6-00000 .. cust-6-00009 start with it
    land_with_dead_letters(
        settings,
        [
            (b"cust-6-00001", b'{"customer_id": "cust-6-00001", "nps": 99}'),  # JSON, other customer
            (None, b'{"customer_id": "cust-6-00002", "nps": 99'),  # truncated JSON, other customer
            (b"cust-6-00003", b"\xffnot json, mentions cust-6-0000 in passing"),  # the bytes hold the prefix
            (b"cust-6-00004", None),  # an empty message with its key
        ],
    )
    load_step(settings)
    transform_step(settings)
    before = counts(settings)
    files = {
        p: p.read_bytes()
        for p in [*settings.landing_dir.rglob("*.parquet"), *settings.quarantine_dir.rglob("*.parquet")]
    }

    result = forget_step(settings, prefix)

    assert (result.raw_rows, result.dead_letters, result.files_rewritten) == (0, 0, [])
    assert counts(settings) == before and before[2] == 4
    assert all(p.read_bytes() == data for p, data in files.items())  # not one file rewritten
    assert result.left == []


def test_exact_key_match_erases_a_dead_letter_that_is_not_json(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1", erasure_salt=SALT)
    target = "cust-6-00012"
    land_with_dead_letters(
        settings,
        [
            (target.encode(), b"\x00\x01 binary, no id inside"),  # only the Kafka key says whose it is
            (None, b'{"nps": 99, "customer_id": "cust-6-00012"}'),  # JSON with the id, no key
            (b"cust-6-000120", b"{}"),  # a key that merely starts with the id
            (None, b'{"customer_id": "cust-6-000120"}'),
        ],
    )
    load_step(settings)
    transform_step(settings)
    result = forget_step(settings, target)
    assert result.dead_letters == 2
    remaining = pq.read_table(next(settings.quarantine_dir.rglob("*.parquet")))
    assert remaining["key"].to_pylist() == [b"cust-6-000120", None]
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute('select "offset" from ops.deadletters order by 1').fetchall() == [
        (o,) for o in remaining["offset"].to_pylist()
    ]
    check_balanced(reconcile(con, settings, with_kafka=False))
    con.close()


def test_forget_republishes_despite_failing_gates_says_what_is_left_and_leaves_no_byte_of_the_id(
    tmp_path: Path,
) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1")
    target = "cust-6-00042"
    land_with_dead_letters(settings, [(target.encode(), b'{"customer_id": "cust-6-00042", "nps": 99}')])
    run_once(settings)
    # An earlier report that quoted the id (text: redacted in place) and a binary one cxpulse cannot edit.
    old_report = settings.reports_dir / "quality" / "gates-20260101T000000Z.json"
    old_report.write_text(json.dumps({"failures": [f"e.g. {target!r} and 'cust-6-0004'"]}))
    binary = settings.reports_dir / "attachment.png"
    binary.write_bytes(b"\x89PNG\x00" + target.encode() + b"\x00")
    snapshot_before = settings.published_path.read_bytes()
    # A row that breaks the survey contract (nps 11) reaches raw.surveys, e.g. loaded by hand during an
    # incident: from now on the quality gates fail, as they would after 48 h without events.
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "insert into raw.surveys by name select * replace (response_id || '-bad' as response_id, "
        "cast(11 as smallint) as nps) from raw.surveys where customer_id <> ? limit 1",
        [target],
    )
    con.close()
    env = {**os.environ, **to_env(settings), "CXPULSE_ERASURE_SALT": ""}

    def forget(**extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cxpulse.cli", "forget", target],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=400,
        )

    no_salt = forget()
    assert no_salt.returncode == 2 and "CXPULSE_ERASURE_SALT is not set" in no_salt.stderr
    assert counts(settings)[2] == 1  # nothing erased without a salt

    # Gates that fail: the erasure republishes anyway and says so.
    stale = forget(CXPULSE_ERASURE_SALT=SALT)
    assert stale.returncode == 4, stale.stdout + stale.stderr
    assert "quality gates: failed" in stale.stdout and "nps" in stale.stdout
    assert f"erasure incomplete: {binary} still holds the id" in stale.stderr
    assert f"cxpulse forget {target}` again" in stale.stderr
    assert settings.published_path.read_bytes() != snapshot_before  # republished despite the gates
    assert counts(settings)[2] == 0
    assert json.loads(old_report.read_text()) == {"failures": ["e.g. '[erased]' and 'cust-6-0004'"]}

    binary.unlink()  # what the operator does about the file cxpulse could not edit, then reruns
    done = forget(CXPULSE_ERASURE_SALT=SALT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "erasure complete" in done.stdout

    surfaces = [settings.published_path.parent, settings.exports_dir, settings.reports_dir]
    files = [p for root in surfaces for p in root.rglob("*") if p.is_file()]
    assert settings.published_path in files and any(p.suffix == ".parquet" for p in files)
    assert (settings.reports_dir / "dashboard.html") in files
    assert [p for p in files if target.encode() in p.read_bytes()] == []  # grep of the bytes
    reader = duckdb.connect(str(settings.published_path), read_only=True)
    alerts = reader.execute("select message from marts.alerts where rule = 'data_quality'").fetchall()
    reader.close()
    assert alerts  # the failed gate is in the snapshot it did not block
