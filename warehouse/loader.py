"""Loads new landing and quarantine files into raw.touchpoints, raw.surveys and ops.deadletters.

Each batch of files is one transaction holding the rows, the ledger entries (ops.loaded_files) and
the touched days (ops.dirty_days): a crash leaves all of it or none of it, and a rerun skips what
the ledger holds. Rows are read with DuckDB's Parquet reader, never inserted one by one. A message
whose id is already in the raw table (a redelivery) is dropped and counted in the ledger, so that
messages = loaded + duplicates dropped + dead letters, exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cxpulse.config import Settings
from streams.landing import SURVEY_SCHEMA, TOUCHPOINT_SCHEMA, BatchFile, batch_files, skipped_offsets
from warehouse import customer_keys
from warehouse.db import transaction

log = logging.getLogger(__name__)

FILES_PER_TRANSACTION = 500

# Whitelisted per kind: target table, its id column, the landing columns (from the contracts).
_EVENT_KINDS = {
    "touchpoints": ("raw.touchpoints", "event_id", [n for n in TOUCHPOINT_SCHEMA.names if n != "payload"]),
    "surveys": ("raw.surveys", "response_id", [n for n in SURVEY_SCHEMA.names if n != "payload"]),
}


@dataclass
class LoadResult:
    files: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)
    duplicates_dropped: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0

    def add(self, table: str, loaded: int, duplicates: int) -> None:
        self.rows_loaded[table] = self.rows_loaded.get(table, 0) + loaded
        self.duplicates_dropped[table] = self.duplicates_dropped.get(table, 0) + duplicates


def _kind_of_topic(settings: Settings) -> dict[str, str]:
    return {settings.topic_touchpoints: "touchpoints", settings.topic_surveys: "surveys"}


def _new_files(con: duckdb.DuckDBPyConnection, root: Path, home: Path) -> list[BatchFile]:
    known = {row[0] for row in con.execute("select path from ops.loaded_files").fetchall()}
    return [f for f in batch_files(root) if str(f.path.relative_to(home)) not in known]


def _chunks(items: list[BatchFile], size: int) -> Iterator[list[BatchFile]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _ledger_rows(files: list[BatchFile], home: Path, kind: str) -> list[tuple]:
    return [
        (
            str(f.path),
            str(f.path.relative_to(home)),
            kind,
            f.topic,
            f.partition,
            f.first_offset,
            f.last_offset,
            skipped_offsets(f.path) if kind == "landing" else 0,
        )
        for f in files
    ]


def _stage_ledger(con: duckdb.DuckDBPyConnection, files: list[BatchFile], home: Path, kind: str) -> None:
    con.execute("""
        create or replace temp table batch_files (
            filename varchar, path varchar, kind varchar, topic varchar, "partition" integer,
            first_offset bigint, last_offset bigint, skipped_offsets bigint)
    """)
    con.executemany("insert into batch_files values (?, ?, ?, ?, ?, ?, ?, ?)", _ledger_rows(files, home, kind))


def _load_events(con: duckdb.DuckDBPyConnection, files: list[BatchFile], home: Path, kind: str) -> tuple[int, int]:
    table, id_column, columns = _EVENT_KINDS[kind]
    column_list = ", ".join(columns)
    # Identifiers below come from _EVENT_KINDS (contract-derived), never from data; files are parameters.
    incoming = f"""
        create or replace temp table incoming as
        with read as (
            select {column_list}, decode(payload) as payload, filename
            from read_parquet(?, filename = true)
        ),
        ranked as (
            select *,
                   row_number() over (
                       partition by {id_column} order by kafka_partition, kafka_offset
                   ) as copy_no
            from read
        ),
        final as (
            select ranked.*,
                   copy_no = 1
                   and not exists (select 1 from {table} t where t.{id_column} = ranked.{id_column}) as keep
            from ranked
        )
        select * from final
    """  # noqa: S608
    con.execute(incoming, [[str(f.path) for f in files]])
    customer_keys.key_new_customers(con, "(select customer_id from incoming where keep)")
    con.execute(f"""
        insert into {table} by name
        select i.* exclude (filename, copy_no, keep), c.customer_key, current_timestamp as loaded_at
        from incoming as i inner join ops.customers as c on c.customer_id = i.customer_id
        where i.keep
    """)  # noqa: S608
    con.execute("""
        insert or ignore into ops.dirty_days
        select distinct cast(occurred_at as date) from incoming where keep
    """)
    _stage_ledger(con, files, home, "landing")
    con.execute("""
        insert into ops.loaded_files
        select f.path, f.kind, f.topic, f."partition", f.first_offset, f.last_offset,
               count(i.filename), count(i.filename) filter (where i.keep),
               count(i.filename) filter (where not i.keep), current_timestamp, f.skipped_offsets
        from batch_files f left join incoming i on i.filename = f.filename
        group by all
    """)
    loaded, total = con.execute("select count(*) filter (where keep), count(*) from incoming").fetchone()
    return loaded, total - loaded


def _load_quarantine(con: duckdb.DuckDBPyConnection, files: list[BatchFile], home: Path) -> int:
    con.execute(
        """
        create or replace temp table incoming as
        select q.*, filename from read_parquet(?, filename = true) q
        anti join ops.deadletters d
          on d.topic = q.topic and d."partition" = q."partition" and d."offset" = q."offset"
    """,
        [[str(f.path) for f in files]],
    )
    con.execute("""
        insert into ops.deadletters
        select topic, "partition", "offset", error, received_at, original, current_timestamp from incoming
    """)
    _stage_ledger(con, files, home, "quarantine")
    con.execute("""
        insert into ops.loaded_files
        select f.path, f.kind, f.topic, f."partition", f.first_offset, f.last_offset,
               count(i.filename), count(i.filename), 0, current_timestamp, f.skipped_offsets
        from batch_files f left join incoming i on i.filename = f.filename
        group by all
    """)
    return con.execute("select count(*) from incoming").fetchone()[0]


def load(con: duckdb.DuckDBPyConnection, settings: Settings) -> LoadResult:
    """Load every landing and quarantine file not yet in the ledger; safe to rerun at any time."""
    result = LoadResult()
    kinds = _kind_of_topic(settings)
    home = settings.home
    for path_group in _group_by_topic(_new_files(con, settings.landing_dir, home)).items():
        topic, files = path_group
        kind = kinds.get(topic)
        if kind is None:
            log.warning("landing folder for unknown topic %s ignored", topic)
            continue
        for chunk in _chunks(files, FILES_PER_TRANSACTION):
            # One line per transaction: progress of a long backfill, and the event the loader kill test waits for.
            log.info("loading %d %s files in one transaction", len(chunk), topic)
            with transaction(con):
                loaded, duplicates = _load_events(con, chunk, home, kind)
            result.files += len(chunk)
            result.add(_EVENT_KINDS[kind][0], loaded, duplicates)
    for chunk in _chunks(_new_files(con, settings.quarantine_dir, home), FILES_PER_TRANSACTION):
        with transaction(con):
            result.dead_letters += _load_quarantine(con, chunk, home)
        result.files += len(chunk)
    log.info(
        "loaded %d files: rows %s, duplicates dropped %s, dead letters %d",
        result.files,
        result.rows_loaded,
        result.duplicates_dropped,
        result.dead_letters,
    )
    return result


def _group_by_topic(files: list[BatchFile]) -> dict[str, list[BatchFile]]:
    groups: dict[str, list[BatchFile]] = {}
    for f in files:
        groups.setdefault(f.topic, []).append(f)
    return groups
