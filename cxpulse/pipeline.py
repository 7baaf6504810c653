"""The batch steps as plain functions: the Airflow tasks and the CLI call these and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from cxpulse.config import Settings, require_erasure_salt
from cxpulse.files import secure_home, share_aggregates
from warehouse.db import connect
from warehouse.erasure import ErasureResult
from warehouse.loader import LoadResult, load
from warehouse.publish import export_parquet, publish_snapshot
from warehouse.runs import recorded_run

log = logging.getLogger(__name__)


@contextmanager
def warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The live warehouse, opened for writing (one writer at a time: DuckDB locks the file)."""
    secure_home(settings)
    con = connect(settings.warehouse_path)
    try:
        yield con
    finally:
        con.close()


def load_step(settings: Settings) -> LoadResult:
    with warehouse(settings) as con, recorded_run(con, settings.home, "load") as run:
        result = load(con, settings)
        run.rows = sum(result.rows_loaded.values()) + result.dead_letters
        run.detail = f"{result.files} files, {sum(result.duplicates_dropped.values())} duplicates dropped"
        return result


def transform_step(settings: Settings, *, full: bool = False):
    """Rebuild the marts for the days touched since the last build (everything with full=True).
    Raises SchemaTestError, with the marts rolled back, when a model test fails."""
    from transforms.runner import build

    with warehouse(settings) as con, recorded_run(con, settings.home, "transform") as run:
        result = build(con, settings, full=full)
        run.rows = sum(result.rows.values())
        run.detail = f"{'full' if result.full else 'incremental'}: {len(result.days)} days rebuilt"
        return result


def check_step(settings: Settings, as_of: datetime | None = None, *, prior_failures: tuple[str, ...] = ()):
    """Quality gates, drift and target alerts, alert delivery. Raises QualityGateError
    after recording a data_quality alert when a test or gate fails, so nothing is published."""
    from quality.check import QualityGateError, run_checks

    with warehouse(settings) as con, recorded_run(con, settings.home, "check") as run:
        # Airflow passes a pendulum DateTime: normalise to a plain aware UTC datetime.
        moment = datetime.fromtimestamp(as_of.timestamp(), UTC) if as_of else datetime.now(UTC)
        result = run_checks(con, settings, moment, prior_failures=prior_failures)
        changes = result.changes
        run.rows = len(changes.opened) + len(changes.refreshed) + len(changes.resolved)  # alerts written
        run.detail = f"alerts opened {len(changes.opened)}, resolved {len(changes.resolved)}"
        if not result.passed:
            raise QualityGateError("; ".join(result.quality_failures))
    return result


def publish_step(settings: Settings) -> tuple[Path, list[Path]]:
    """Parquet exports, the HTML dashboard, then the snapshot for BI tools (atomic swap); exports and
    reports get the modes of config aggregates_readable_by."""
    from warehouse.dashboard import write_dashboard

    with warehouse(settings) as con, recorded_run(con, settings.home, "publish") as run:
        exports = export_parquet(con, settings)
        write_dashboard(con, settings.reports_dir / "dashboard.html")
        snapshot = publish_snapshot(con, settings)
        marts = con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        run.rows = sum(con.execute(f'select count(*) from marts."{t}"').fetchall()[0][0] for (t,) in marts)  # noqa: S608 - catalog names
    share_aggregates(settings)
    return snapshot, exports


@dataclass
class RunResult:
    load: LoadResult
    snapshot: Path


def run_once(settings: Settings, *, full: bool = False, as_of: datetime | None = None) -> RunResult:
    """load -> transform -> check -> publish, the same functions the DAGs run, without Airflow."""
    from transforms.runner import SchemaTestError

    loaded = load_step(settings)
    try:
        transform_step(settings, full=full)
    except SchemaTestError as exc:
        # the marts were rolled back; record why in marts.alerts, then stop before publishing
        check_step(settings, as_of, prior_failures=tuple(str(f) for f in exc.failures))
        raise
    check_step(settings, as_of)
    snapshot, _ = publish_step(settings)
    return RunResult(loaded, snapshot)


def forget_step(settings: Settings, customer_id: str) -> ErasureResult:
    """GDPR erasure of one customer, then rebuild the touched days and republish every published surface.

    The quality gates run and their result is reported (`result.gates`), but a failing gate does not stop
    the republication: keeping an erased customer published is worse than publishing marts that a gate
    flagged (the data_quality alert says which). `result.left` lists what still holds the customer;
    empty means the erasure is complete. Safe to rerun until it is.
    """
    from quality.check import QualityGateError
    from transforms.runner import SchemaTestError
    from warehouse.erasure import forget, leftovers, redact_reports, verbatim_copies_left

    require_erasure_salt(settings)  # before touching anything
    with warehouse(settings) as con:
        result = forget(con, settings, customer_id)
    # From here on, every failure is recorded and the next steps still run: the customer must leave
    # as many surfaces as possible, and the command says what is left (exit code 4).
    try:
        transform_step(settings)
    except SchemaTestError as exc:
        result.left.append(f"the marts of {result.days} days were not rebuilt (model tests failed: {exc})")
    except Exception as exc:
        log.exception("rebuilding the marts after the erasure failed")
        result.left.append(f"the marts of {result.days} days were not rebuilt ({type(exc).__name__}: {exc})")
    try:
        check_step(settings)
        result.gates = "passed"
    except QualityGateError as exc:
        result.gates = f"failed ({exc})"
    except Exception as exc:
        log.exception("quality checks after the erasure failed")
        result.gates = f"not run ({type(exc).__name__}: {exc})"
    try:
        snapshot, exports = publish_step(settings)
        result.published = [snapshot, *exports, settings.reports_dir / "dashboard.html"]
    except Exception as exc:
        log.exception("republishing after the erasure failed")
        result.left.append(f"the published surfaces were not rewritten ({type(exc).__name__}: {exc})")
    result.reports_redacted = redact_reports(settings, customer_id, result.verbatims)
    result.left += [f"{path} still holds the id" for path in leftovers(settings, customer_id, result.verbatims)]
    if result.verbatims:  # quotes of the customer's verbatims: in the warehouse, then in the published snapshot
        with warehouse(settings) as con:
            left = verbatim_copies_left(con, result.verbatims)
        if settings.published_path.exists():
            with duckdb.connect(str(settings.published_path), read_only=True) as snapshot:
                left += [f"{settings.published_path}: {c}" for c in verbatim_copies_left(snapshot, result.verbatims)]
        result.left += [f"{where} still quotes the customer's verbatim" for where in left]
    return result
