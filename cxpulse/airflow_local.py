"""Runs the cxpulse DAGs in-process with `dag.test()` on a local SQLite metadata DB (no scheduler).

Used by `cxpulse demo` and the end-to-end tests. Airflow reads its configuration when first
imported, so `configure()` must run before anything imports `airflow`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cxpulse.config import Settings

DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags"
DAG_ORDER = ("cx_load", "cx_marts", "cx_quality", "cx_publish")
# Every task that opens the live warehouse for writing runs in this pool of one slot: DuckDB allows
# one writing process per file, and a second writer would fail on the lock rather than wait.
# Defined here, where nothing imports Airflow (it reads its configuration once per process).
WAREHOUSE_POOL = "cx_warehouse"
WAREHOUSE_POOL_DESCRIPTION = "one DuckDB writer at a time"

log = logging.getLogger(__name__)


def configure(settings: Settings) -> Path:
    """Point Airflow at $CXPULSE_HOME/airflow and our DAGs folder, unless the caller chose otherwise."""
    home = Path(os.environ.setdefault("AIRFLOW_HOME", str(settings.home / "airflow")))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS_FOLDER))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
    # Tasks reach the same data home as the caller.
    os.environ["CXPULSE_HOME"] = str(settings.home)
    return home


def prepare_metadata_db() -> None:
    """Create or migrate the metadata DB and the single-slot warehouse pool."""
    from airflow.models.pool import Pool
    from airflow.utils import db

    db.initdb()
    Pool.create_or_update_pool(WAREHOUSE_POOL, slots=1, description=WAREHOUSE_POOL_DESCRIPTION, include_deferred=False)


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAGS_FOLDER))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run_dags(
    settings: Settings,
    dag_ids: tuple[str, ...] = DAG_ORDER,
    *,
    logical_date: datetime | None = None,
    on_done: Callable[[str, str], None] | None = None,
) -> dict[str, str]:
    """`dag.test()` each DAG in order (the order their Assets would trigger them); stop at a failure.
    `logical_date` reruns a past interval (a local backfill); `on_done(dag_id, state)` follows each run."""
    configure(settings)
    prepare_metadata_db()
    dags = load_dags()
    states: dict[str, str] = {}
    for dag_id in dag_ids:
        run = dags[dag_id].test(logical_date=logical_date)
        states[dag_id] = str(run.state)
        log.info("%s finished: %s", dag_id, run.state)
        if on_done is not None:
            on_done(dag_id, states[dag_id])
        if states[dag_id] != "success":
            break
    return states
