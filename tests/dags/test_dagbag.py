"""The DAG folder as Airflow's DagBag sees it: imports, schedules, tags, owners, serialised writers."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from cxpulse.config import Settings


@pytest.fixture(scope="module")
def dags(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from cxpulse import airflow_local

    home = tmp_path_factory.mktemp("airflow")
    airflow_local.configure(dataclasses.replace(Settings(), home=Path(home)))
    return airflow_local.load_dags()


def test_all_dags_import_without_errors(dags: dict) -> None:
    assert set(dags) == {"cx_load", "cx_marts", "cx_quality", "cx_publish"}


def test_conventions(dags: dict) -> None:
    for dag_id, dag in dags.items():
        assert dag.tags and "cxpulse" in dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        assert dag.doc_md and dag_id in dag.doc_md, dag_id
        for task in dag.tasks:
            assert task.owner == "cx-data", (dag_id, task.task_id)
            assert task.pool == "cx_warehouse", (dag_id, task.task_id)  # one DuckDB writer at a time
            assert task.retries >= 1, (dag_id, task.task_id)


def test_assets_chain_the_dags_in_order(dags: dict) -> None:
    def outlets(dag_id: str) -> set[str]:
        return {a.name for t in dags[dag_id].tasks for a in t.outlets}

    def triggers(dag_id: str) -> set[str]:
        return {a.name for a in dags[dag_id].timetable.asset_condition.objects}

    assert outlets("cx_load") == {"cx_raw"}
    assert triggers("cx_marts") == {"cx_raw"} and outlets("cx_marts") == {"cx_marts"}
    assert triggers("cx_quality") == {"cx_marts"} and outlets("cx_quality") == {"cx_marts_checked"}
    assert triggers("cx_publish") == {"cx_marts_checked"}


def test_new_landing_files_start_cx_load_and_an_hourly_tick_is_the_safety_net(dags: dict) -> None:
    from cxpulse.triggers import LandingFilesTrigger

    schedule = dags["cx_load"].timetable
    (landing,) = schedule.asset_condition.objects
    assert landing.name == "cx_landing"
    (watcher,) = landing.watchers
    assert isinstance(watcher.trigger, LandingFilesTrigger)
    # the data home that configure() gave the DAG processor
    assert watcher.trigger.directory == str(Path(os.environ["CXPULSE_HOME"]) / "landing")
    assert schedule.timetable.expression == "0 * * * *"
