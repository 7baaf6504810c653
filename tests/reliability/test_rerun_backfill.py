"""A DAG rerun and a backfill of a past interval leave the marts exactly as one single run would.

Real Airflow (`cxpulse dags`, i.e. dag.test() on SQLite, in a subprocess with its own AIRFLOW_HOME)
over real landing files. Home A: a full run of the four DAGs, late events for past days arrive, then
cx_load + cx_marts rerun for an interval three days ago. Home B: every file present, one run.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings, to_env
from tests.sample import generate

pytestmark = [pytest.mark.integration]

MARTS = ("kpi_service_daily", "kpi_experience_daily", "kpi_cases_daily", "complaints_pareto", "progress_dashboard")


def cxpulse_dags(settings: Settings, *args: str) -> str:
    env = {**os.environ, **to_env(settings), "AIRFLOW_HOME": str(settings.home / "airflow")}
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "dags", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _stable(row: tuple) -> tuple:
    # sums of doubles depend on the order DuckDB's threads add them in: compare to 12 significant digits
    return tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row)


def marts(settings: Settings) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {
            name: sorted((_stable(r) for r in con.execute(f"select * from marts.{name}").fetchall()), key=repr)
            for name in MARTS
        }
    finally:
        con.close()


def test_rerun_and_backfill_give_the_marts_of_a_single_run(tmp_path: Path, land) -> None:
    base = dataclasses.replace(Settings(), kafka_bootstrap="localhost:1", alert_webhook=None)
    first = generate(customers=150, seed=11, with_malformed=False, duplicate_rate=0)
    # events that arrive late: all of them for days in the past, some the same days as `first`
    late = generate(customers=60, seed=12, with_malformed=False, duplicate_rate=0, days=10)
    a = dataclasses.replace(base, home=tmp_path / "a")
    b = dataclasses.replace(base, home=tmp_path / "b")

    land(a, "touchpoints", first.touchpoints, 0)
    land(a, "surveys", first.surveys, 0)
    out = cxpulse_dags(a)
    assert all(f"{dag}: success" in out for dag in ("cx_load", "cx_marts", "cx_quality", "cx_publish"))
    after_first = marts(a)
    assert all(after_first[name] for name in MARTS)

    land(a, "touchpoints", late.touchpoints, len(first.touchpoints))
    land(a, "surveys", late.surveys, len(first.surveys))
    past = (datetime.now(UTC) - timedelta(days=3)).replace(microsecond=0).isoformat()
    cxpulse_dags(a, "--dag", "cx_load", "--dag", "cx_marts", "--logical-date", past)
    cxpulse_dags(a, "--dag", "cx_load", "--dag", "cx_marts", "--logical-date", past)  # the same interval again

    for messages, kind, offset in (
        (first.touchpoints, "touchpoints", 0),
        (first.surveys, "surveys", 0),
        (late.touchpoints, "touchpoints", len(first.touchpoints)),
        (late.surveys, "surveys", len(first.surveys)),
    ):
        land(b, kind, messages, offset)
    cxpulse_dags(b, "--dag", "cx_load", "--dag", "cx_marts")

    backfilled, single = marts(a), marts(b)
    assert backfilled != after_first  # the late events changed the marts...
    for name in MARTS:
        assert backfilled[name] == single[name], name  # ...exactly as one run over everything does
    con = duckdb.connect(str(a.warehouse_path), read_only=True)
    try:
        loaded = con.execute("select count(*) from raw.touchpoints").fetchall()[0][0]
    finally:
        con.close()
    assert loaded == len(first.touchpoints) + len(late.touchpoints)
