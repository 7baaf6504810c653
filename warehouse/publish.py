"""Publishing for BI tools: an atomic snapshot of the live warehouse and Parquet exports."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from cxpulse.config import Settings

PUBLISHED_SCHEMAS = ("marts",)


def publish_snapshot(con: duckdb.DuckDBPyConnection, settings: Settings) -> Path:
    """Copy the live file to published/cx.duckdb so that a reader never sees a lock or a partial file.

    CHECKPOINT folds the write-ahead log into the file, and this connection is the only writer, so
    the bytes copied are a complete database. The copy gets a temporary name, is fsynced, then
    replaces the old snapshot in one rename: a BI tool holding the old file keeps reading it.
    """
    con.execute("checkpoint")
    target = settings.published_path
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(settings.warehouse_path, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return target


def export_parquet(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[Path]:
    """Write exports/<schema>.<table>.parquet for every published table, each replaced atomically."""
    settings.exports_dir.mkdir(parents=True, exist_ok=True)
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) and table_type = 'BASE TABLE' order by all",
        [list(PUBLISHED_SCHEMAS)],
    ).fetchall()
    written = []
    for schema, table in tables:
        target = settings.exports_dir / f"{schema}.{table}.parquet"
        tmp = target.with_name(f".{target.name}.tmp")
        # schema/table come from information_schema filtered on a whitelist, never from event data.
        con.execute(f'copy "{schema}"."{table}" to \'{tmp}\' (format parquet, compression zstd)')  # noqa: S608
        os.replace(tmp, target)
        written.append(target)
    return written
