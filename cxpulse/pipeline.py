"""The batch steps, as plain functions: Airflow tasks and the CLI both call these."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cxpulse.config import Settings
from warehouse.db import connect
from warehouse.loader import LoadResult, load
from warehouse.publish import export_parquet, publish_snapshot

log = logging.getLogger(__name__)


@contextmanager
def warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The live warehouse, opened for writing (one writer at a time: DuckDB locks the file)."""
    con = connect(settings.warehouse_path)
    try:
        yield con
    finally:
        con.close()


def load_step(settings: Settings) -> LoadResult:
    with warehouse(settings) as con:
        return load(con, settings)


def publish_step(settings: Settings) -> tuple[Path, list[Path]]:
    with warehouse(settings) as con:
        exports = export_parquet(con, settings)
        snapshot = publish_snapshot(con, settings)
    return snapshot, exports


def run_once(settings: Settings) -> LoadResult:
    """load -> publish, in one writer session."""
    with warehouse(settings) as con:
        result = load(con, settings)
        export_parquet(con, settings)
        publish_snapshot(con, settings)
    return result
