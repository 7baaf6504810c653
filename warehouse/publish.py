"""Publishing for BI tools: a fresh snapshot of the marts and Parquet exports, each replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from cxpulse.config import PUBLISH_STORAGE_VERSIONS, Settings
from cxpulse.files import PRIVATE_FILE, aggregate_modes, make_private_dirs
from streams.landing import write_atomically

PUBLISHED_SCHEMAS = ("marts",)
_SNAPSHOT_ALIAS = "cx_snapshot"


def _sql_text(value: str) -> str:
    """A SQL string literal (ATTACH takes no parameter); used for paths and versions from config only."""
    return "'" + value.replace("'", "''") + "'"


def published_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every base table BI tools get: the marts, nothing of raw, staging or ops."""
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema in (select unnest(?)) "
        "and table_type = 'BASE TABLE' order by all",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()


def publish_snapshot(con: duckdb.DuckDBPyConnection, settings: Settings) -> Path:
    """Write published/cx.duckdb afresh from the marts, then swap it in, so a reader never sees a lock,
    a partial file, or anything but the marts.

    The snapshot is a new database file (ATTACH with the configured STORAGE_VERSION, so that BI tools
    embedding an older DuckDB open it), filled by one CREATE TABLE AS per mart: no raw, staging or ops
    table, and no free block of the live file where erased rows could linger. It is checkpointed,
    detached, made owner-only, fsynced, then renamed over the old snapshot: a BI tool holding the old
    file keeps reading it, the next open gets the new one.
    """
    version = settings.publish_storage_version
    if version not in PUBLISH_STORAGE_VERSIONS:  # Settings built in code skip load_settings' validation
        raise ValueError(f"publish_storage_version must be one of {', '.join(PUBLISH_STORAGE_VERSIONS)}: {version!r}")
    target = settings.published_path
    make_private_dirs(target.parent)
    tmp = target.with_name(f".{target.name}.tmp")
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):  # from a run that crashed mid-write
        leftover.unlink(missing_ok=True)
    tables = published_tables(con)

    def fill(tmp: Path) -> None:
        con.execute(f"attach {_sql_text(str(tmp))} as {_SNAPSHOT_ALIAS} (storage_version {_sql_text(version)})")
        try:
            os.chmod(tmp, PRIVATE_FILE)
            for schema in sorted({schema for schema, _ in tables} | set(PUBLISHED_SCHEMAS)):
                con.execute(f'create schema {_SNAPSHOT_ALIAS}."{schema}"')
            for schema, table in tables:
                # identifiers come from information_schema filtered on PUBLISHED_SCHEMAS, never from event data
                con.execute(
                    f'create table {_SNAPSHOT_ALIAS}."{schema}"."{table}" as select * from "{schema}"."{table}"'  # noqa: S608
                )
            con.execute(f"checkpoint {_SNAPSHOT_ALIAS}")
        finally:
            con.execute(f"detach {_SNAPSHOT_ALIAS}")

    # fsync, rename over the old snapshot, fsync the folder; a failed fill leaves no temporary file
    return write_atomically(target, fill, private=True)


def export_parquet(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Path]:
    """Write exports/<schema>.<table>.parquet for every published table, each replaced atomically.

    Their mode follows config aggregates_readable_by (owner-only by default)."""
    folder_mode, file_mode = aggregate_modes(settings)
    make_private_dirs(settings.exports_dir, folder_mode)
    written = []
    for schema, table in published_tables(con):

        def copy(tmp: Path, schema: str = schema, table: str = table) -> None:
            # schema/table come from information_schema filtered on a whitelist, never from event data.
            con.execute(f'copy "{schema}"."{table}" to {_sql_text(str(tmp))} (format parquet, compression zstd)')  # noqa: S608
            os.chmod(tmp, file_mode)

        written.append(write_atomically(settings.exports_dir / f"{schema}.{table}.parquet", copy))
    return written
