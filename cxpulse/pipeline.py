"""The batch steps as plain functions: the Airflow tasks and the CLI call these and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


def transform_step(settings: Settings, *, full: bool = False):
    """Rebuild the marts for the days touched since the last build (everything with full=True)."""
    from transforms.runner import build

    with warehouse(settings) as con:
        return build(con, settings, full=full)


def check_step(settings: Settings) -> None:
    """Run the model tests of transforms/schema.yaml; raises when any fails, so nothing is published."""
    from transforms.runner import SchemaTestError, run_schema_tests

    with warehouse(settings) as con:
        failures = run_schema_tests(con)
    if failures:
        raise SchemaTestError(failures)


def publish_step(settings: Settings) -> tuple[Path, list[Path]]:
    with warehouse(settings) as con:
        exports = export_parquet(con, settings)
        snapshot = publish_snapshot(con, settings)
    return snapshot, exports


@dataclass
class RunResult:
    load: LoadResult
    snapshot: Path


def run_once(settings: Settings, *, full: bool = False) -> RunResult:
    """load -> transform -> check -> publish, the same functions the DAGs run, without Airflow."""
    loaded = load_step(settings)
    transform_step(settings, full=full)
    check_step(settings)
    snapshot, _ = publish_step(settings)
    return RunResult(loaded, snapshot)
