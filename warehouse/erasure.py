"""GDPR erasure: `cxpulse forget CUSTOMER_ID` removes one customer from the raw tables, the landing and
quarantine files and the dead letters, rebuilds the marts of the days they touched and republishes.

The erasure ledger (ops.erasures) keeps counts per topic and partition under a salted hash of the id,
never the id itself, so that the reconciliation still adds up: produced = loaded + duplicates + dead
letters + erased. Messages still on Kafka expire with the topic retention (7 days on the local broker).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cxpulse.config import Settings
from streams.landing import parse_batch_name, write_durably


@dataclass
class ErasureResult:
    raw_rows: int = 0
    dead_letters: int = 0
    files_rewritten: list[Path] = field(default_factory=list)
    days: int = 0


def subject_hash(customer_id: str) -> str:
    salt = os.environ.get("CXPULSE_ERASURE_SALT", "cxpulse")
    return hashlib.sha256(f"{salt}:{customer_id}".encode()).hexdigest()


def _rewrite_landing(settings: Settings, customer_id: str) -> list[Path]:
    rewritten = []
    for path in sorted(settings.landing_dir.glob("*/*/*.parquet")):
        if not parse_batch_name(path):
            continue
        table = pq.read_table(path)
        keep = pc.not_equal(table["customer_id"], customer_id)
        if pc.all(keep).as_py() in (True, None):
            continue
        write_durably(table.filter(keep), path)
        rewritten.append(path)
    return rewritten


def _rewrite_quarantine(settings: Settings, needle: bytes) -> list[Path]:
    rewritten = []
    for path in sorted(settings.quarantine_dir.glob("*/*/*.parquet")):
        if not parse_batch_name(path):
            continue
        table = pq.read_table(path)
        originals = table["original"].to_pylist()
        mask = [not (value and needle in value) for value in originals]
        if all(mask):
            continue
        write_durably(table.filter(mask), path)
        rewritten.append(path)
    return rewritten


def forget(con: duckdb.DuckDBPyConnection, settings: Settings, customer_id: str) -> ErasureResult:
    """Erase one customer everywhere cxpulse stored them; the caller rebuilds and republishes."""
    if not customer_id:
        raise ValueError("customer_id must not be empty")
    result = ErasureResult()
    needle = customer_id.encode()
    subject = subject_hash(customer_id)
    con.execute("begin transaction")
    try:
        con.execute(
            """
            insert or ignore into ops.dirty_days
            select distinct cast(occurred_at as date) from raw.touchpoints where customer_id = $c
            union select distinct cast(occurred_at as date) from raw.surveys where customer_id = $c
        """,
            {"c": customer_id},
        )
        for table in ("raw.touchpoints", "raw.surveys"):
            counts = con.execute(
                f"select kafka_topic, kafka_partition, count(*) from {table} where customer_id = ? group by all",  # noqa: S608
                [customer_id],
            ).fetchall()
            for topic, partition, rows in counts:
                con.execute(
                    "insert into ops.erasures values (?, ?, ?, 'raw', ?, now())", [subject, topic, partition, rows]
                )
                result.raw_rows += rows
            con.execute(f"delete from {table} where customer_id = ?", [customer_id])  # noqa: S608
        # dead letters are raw bytes, maybe not even JSON: match the id anywhere in them
        dead = [
            (t, p, o)
            for t, p, o, original in con.execute(
                'select topic, "partition", "offset", original from ops.deadletters'
            ).fetchall()
            if original and needle in original
        ]
        for topic, partition, offset in dead:
            con.execute(
                'delete from ops.deadletters where topic = ? and "partition" = ? and "offset" = ?',
                [topic, partition, offset],
            )
            con.execute(
                "insert into ops.erasures values (?, ?, ?, 'deadletter', 1, now())", [subject, topic, partition]
            )
        result.dead_letters = len(dead)
        result.days = con.execute("select count(*) from ops.dirty_days").fetchall()[0][0]
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    # Files after the tables: a crash in between leaves files that a rerun of `forget` cleans.
    result.files_rewritten = _rewrite_landing(settings, customer_id) + _rewrite_quarantine(settings, needle)
    return result


def erased_counts(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, int], int]:
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'ops' and table_name = 'erasures'"
    ).fetchall()[0][0]
    if not exists:  # a read-only warehouse written before erasures existed
        return {}
    return {
        (t, p): n
        for t, p, n in con.execute(
            'select topic, "partition", sum(rows_erased)::bigint from ops.erasures group by all'
        ).fetchall()
    }
