"""Tasks that can never succeed on retry fail at once: a quality gate that fails on the data fails
the same way a minute later, so cx_quality must not spend its retries (and their backoff) on it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from cxpulse.config import Settings
from cxpulse.pipeline import run_once
from tests.sample import generate


def test_a_failing_quality_gate_fails_cx_quality_without_retrying(tmp_path: Path, land) -> None:
    from cxpulse import airflow_local

    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1")
    sample = generate(customers=300, seed=4, with_malformed=False)
    land(settings, "touchpoints", sample.touchpoints)
    land(settings, "surveys", sample.surveys)
    run_once(settings)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "insert into raw.surveys by name select * replace (response_id || '-bad' as response_id, "
        "cast(11 as smallint) as nps) from raw.surveys limit 1"
    )
    con.close()

    airflow_local.configure(settings)
    airflow_local.prepare_metadata_db()
    dag = airflow_local.load_dags()["cx_quality"]
    assert dag.get_task("check_quality_and_drift").retries >= 1  # retries exist, for other errors
    run = dag.test()
    (ti,) = run.get_task_instances()
    assert (str(run.state), str(ti.state), ti.try_number) == ("failed", "failed", 1)
