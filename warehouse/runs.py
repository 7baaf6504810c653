"""ops.runs: one row per run of a batch step (load, transform, check, publish; `cxpulse forget` records
the rebuild and republish it runs, not the erasure, whose error could name the customer), written by
the step itself on its own warehouse connection, failed runs included.

Under Airflow the row carries the DAG, the DAG run and the try (Airflow exports them to the task's
environment as AIRFLOW_CTX_*); from the command line the run id is a fresh uuid. After every run the
latest figures per step are also written in Prometheus' text format to
`$CXPULSE_HOME/metrics/cxpulse_steps.prom`, for node_exporter's textfile collector: batch steps are
short-lived processes that nothing could scrape (prometheus-client's convention for batch jobs).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

log = logging.getLogger(__name__)

TEXTFILE = Path("metrics") / "cxpulse_steps.prom"  # under the data home


@dataclass
class StepRun:
    """What the step reports about itself while it runs."""

    rows: int | None = None  # rows the step wrote (load: raw rows + dead letters; publish: mart rows published)
    detail: str | None = None


def _run_identity(step: str) -> tuple[str, str | None, str | None]:
    """(run_id, dag_id, dag_run_id): Airflow's identifiers when a DAG task runs the step."""
    env = os.environ
    dag_id, dag_run_id = env.get("AIRFLOW_CTX_DAG_ID"), env.get("AIRFLOW_CTX_DAG_RUN_ID")
    if dag_id and dag_run_id:
        task = env.get("AIRFLOW_CTX_TASK_ID", step)
        return f"{dag_id}/{dag_run_id}/{task}/try-{env.get('AIRFLOW_CTX_TRY_NUMBER', '1')}", dag_id, dag_run_id
    return f"cli/{uuid.uuid4()}/{step}", None, None


@contextmanager
def recorded_run(con: duckdb.DuckDBPyConnection, home: Path, step: str) -> Iterator[StepRun]:
    """Record the enclosed step in ops.runs (status success, or failed with the error) and refresh the
    textfile metrics. Recording never hides the step's own outcome: a failure to record is logged."""
    run = StepRun()
    run_id, dag_id, dag_run_id = _run_identity(step)
    started_at, started = datetime.now(UTC), time.monotonic()
    status = "success"
    try:
        yield run
    except BaseException as exc:
        status = "failed"
        run.detail = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    finally:
        row = [
            run_id,
            step,
            started_at,
            datetime.now(UTC),
            status,
            run.detail,
            run.rows,
            round(time.monotonic() - started, 3),
            dag_id,
            dag_run_id,
        ]
        try:
            try:
                _insert(con, row)
            except duckdb.TransactionException:  # the failed step left its transaction aborted
                con.rollback()
                _insert(con, row)
            write_textfile(con, home / TEXTFILE)
        except (duckdb.Error, OSError) as exc:
            log.warning("could not record the %s run in ops.runs: %s", step, exc)


def _insert(con: duckdb.DuckDBPyConnection, row: list) -> None:
    con.execute(
        "insert or replace into ops.runs (run_id, step, started_at, finished_at, status, detail, rows, duration_s, "
        "dag_id, dag_run_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )


def last_success(con: duckdb.DuckDBPyConnection, step: str) -> datetime | None:
    """When the step last finished successfully (None: never)."""
    return con.execute(
        "select max(finished_at) from ops.runs where step = ? and status = 'success'", [step]
    ).fetchall()[0][0]


def write_textfile(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The latest run of every step, in Prometheus' text format (written atomically)."""
    registry = CollectorRegistry()
    success = Gauge(
        "cxpulse_step_last_success_timestamp_seconds",
        "Unix time the step last finished successfully",
        ["step"],
        registry=registry,
    )
    duration = Gauge(
        "cxpulse_step_last_duration_seconds", "Duration of the step's latest run", ["step"], registry=registry
    )
    rows = Gauge("cxpulse_step_last_rows", "Rows written by the step's latest run", ["step"], registry=registry)
    failed = Gauge("cxpulse_step_last_failed", "1 when the step's latest run failed", ["step"], registry=registry)
    latest = con.execute(
        "select step, duration_s, rows, status = 'failed', "
        "(select max(finished_at) from ops.runs s where s.step = r.step and s.status = 'success') "
        "from ops.runs r qualify row_number() over (partition by step order by finished_at desc) = 1"
    ).fetchall()
    for step, seconds, written, was_failed, succeeded_at in latest:
        duration.labels(step).set(seconds or 0)
        rows.labels(step).set(written or 0)
        failed.labels(step).set(int(was_failed))
        if succeeded_at is not None:
            success.labels(step).set(succeeded_at.timestamp())
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
