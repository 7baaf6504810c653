"""The product as it runs in production, with no dag.test(): `cxpulse airflow start` (api-server,
scheduler, dag-processor, triggerer, LocalExecutor), `cxpulse consume` as a service, events produced
to the broker. New landing files must start `cx_load` through the triggerer (event-driven), and the
Asset chain cx_marts -> cx_quality -> cx_publish must put them into published/cx.duckdb within
BOUND_S seconds of the produce. Synchronised on what can be observed: the published snapshot (read
only) and the DAG runs of Airflow's REST API, each wait bounded.

The same start with the metadata DB on PostgreSQL (a server the test starts, as an operator points
`AIRFLOW__DATABASE__SQL_ALCHEMY_CONN` at theirs): one event-driven `cx_load` run, checked through the
REST API and in Postgres itself with psql; `cxpulse airflow status` names the DB, password hidden.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cxpulse.airflow_service import AirflowApi, AirflowInfo, start, stop
from cxpulse.broker import free_port
from cxpulse.config import Settings, to_env
from tests.postgres import PostgresServer, postgres_server, server_binaries
from tests.sample import generate

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

# From the produce to the published snapshot holding the events: a consumer batch (2 s), the
# triggerer's scan (2 s), then four task runs, each a fresh Python process importing DuckDB,
# Great Expectations and Evidently. ~45 s on an idle 2-core machine; the bound leaves room for a
# machine shared with other work. The freshness goal (p95 <= 60 s) is measured by `make bench`.
BOUND_S = 300
CHAIN = ("cx_load", "cx_marts", "cx_quality", "cx_publish")


@contextmanager
def airflow_started(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, metadata_db: str = ""
) -> Iterator[AirflowInfo]:
    """`cxpulse airflow start` under this test's data home, its metadata on `metadata_db` (a SQLAlchemy
    URL; SQLite in the home when empty), stopped at the end."""
    # Earlier in-process tests (dag.test()) leave AIRFLOW_HOME and AIRFLOW__* pointing at their own
    # metadata DB for the rest of the session.
    for name in [n for n in os.environ if n == "AIRFLOW_HOME" or n.startswith("AIRFLOW__")]:
        monkeypatch.delenv(name)
    if metadata_db:
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", metadata_db)
    info = start(settings, port=free_port(), timeout_s=400)
    try:
        yield info
    finally:
        stop(settings)


@pytest.fixture
def airflow(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[AirflowInfo]:
    with airflow_started(kafka_settings, monkeypatch) as info:
        yield info


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    bindir = server_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are neither on PATH nor in /usr/lib/postgresql/*/bin")
    with postgres_server(bindir) as server:
        yield server


@pytest.fixture
def consumer(kafka_settings: Settings) -> Iterator[subprocess.Popen]:
    env = {**os.environ, **to_env(kafka_settings)}
    log = (kafka_settings.home / "consume.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "cxpulse.cli", "consume"], env=env, stdout=log, stderr=log)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, (kafka_settings.home / "consume.log").read_text()[-2000:]
        log.close()


def cxpulse(settings: Settings, *args: str) -> str:
    env = {**os.environ, **to_env(settings)}
    done = subprocess.run([sys.executable, "-m", "cxpulse.cli", *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def published_totals(path: Path) -> tuple[int, int] | None:
    """(contacts offered, survey responses) in the BI snapshot, over all days; None before the first."""
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        offered = con.execute(
            "select coalesce(sum(offered), 0) from marts.kpi_service_daily where channel = 'all' and queue = 'all'"
        ).fetchall()[0][0]
        responses = con.execute(
            "select coalesce(sum(responses), 0) from marts.kpi_experience_daily "
            "where channel = 'all' and touchpoint = 'all'"
        ).fetchall()[0][0]
    finally:
        con.close()
    return int(offered), int(responses)


def test_events_reach_the_bi_snapshot_through_the_real_scheduler(
    kafka_settings: Settings, airflow: AirflowInfo, consumer: subprocess.Popen, tmp_path: Path
) -> None:
    settings = kafka_settings
    api = AirflowApi(airflow.url, airflow.password_file)
    sample = tmp_path / "sample"
    cxpulse(settings, "simulate", "--days", "2", "--customers", "3000", "--seed", "7", "--to", str(sample))
    touchpoints = [json.loads(line) for line in (sample / "touchpoints.jsonl").read_text().splitlines()]
    surveys = (sample / "surveys.jsonl").read_text().splitlines()
    expected = (sum(1 for t in touchpoints if t["event_type"] == "contact"), len(surveys))
    assert expected[0] > 20 and expected[1] > 2  # enough to tell a partial load from a full one

    produced_at = datetime.now(UTC)
    clock = time.monotonic()
    cxpulse(settings, "produce", str(sample / "touchpoints.jsonl"), "--topic", settings.topic_touchpoints)
    cxpulse(settings, "produce", str(sample / "surveys.jsonl"), "--topic", settings.topic_surveys)

    seen = None
    while seen != expected:
        assert consumer.poll() is None, "the consumer service stopped"
        assert time.monotonic() - clock < BOUND_S, (
            f"published snapshot still at {seen} (contacts, responses), expected {expected} after {BOUND_S} s; "
            f"landing files: {sorted(p.name for p in settings.landing_dir.rglob('*.parquet'))[:10]}; "
            f"last runs: {[(d, (api.last_run(d) or {}).get('state')) for d in CHAIN]}"
        )
        time.sleep(1)
        seen = published_totals(settings.published_path)
    freshness = time.monotonic() - clock

    # The runs that carried the events: started by the landing files and the Assets (not by the
    # hourly safety net, not by hand), successful. The snapshot is written before its run is marked
    # successful: wait for the runs' end too, within the same bound.
    def carried(dag_id: str) -> list[dict]:
        runs = [r for r in api.dag_runs(dag_id) if datetime.fromisoformat(r["run_after"]) >= produced_at]
        return [r for r in runs if r["run_type"] == "asset_triggered" and r["state"] == "success"]

    for dag_id in CHAIN:
        while not carried(dag_id):
            assert time.monotonic() - clock < BOUND_S, (
                f"{dag_id}: no successful asset-triggered run after the produce: {api.dag_runs(dag_id, limit=5)}"
            )
            time.sleep(1)
    print(f"produce -> published snapshot: {freshness:.1f} s")


def test_metadata_on_postgres_runs_the_event_driven_load(
    settings: Settings,
    land: Callable[..., Path],
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sample = generate(customers=50, days=2, seed=3, with_malformed=False)
    land(settings, "touchpoints", sample.touchpoints)  # as a consumer batch would: the watcher fires on it
    clock = time.monotonic()
    with airflow_started(settings, monkeypatch, postgres.url()) as airflow:
        started = time.monotonic() - clock
        api = AirflowApi(airflow.url, airflow.password_file)
        clock = time.monotonic()
        run = None
        while run is None or run["state"] not in ("success", "failed"):
            assert time.monotonic() - clock < BOUND_S, (
                f"no finished event-driven cx_load run: {api.dag_runs('cx_load')}"
            )
            time.sleep(1)
            run = next((r for r in api.dag_runs("cx_load") if r["run_type"] == "asset_triggered"), None)
        assert run["state"] == "success", run
        print(f"Airflow on Postgres: healthy in {started:.1f} s, then cx_load done in {time.monotonic() - clock:.1f} s")
        status = cxpulse(settings, "airflow", "status")
        # `start` again is a no-op on a running Airflow that prints where its metadata is
        started_again = cxpulse(settings, "airflow", "start", "--port", airflow.url.rsplit(":", 1)[1])

    # the run lives in Postgres (read with psql, not with Airflow), and nothing fell back to SQLite
    rows = postgres.psql(f"select state from dag_run where dag_id = 'cx_load' and run_id = '{run['dag_run_id']}'")
    assert rows.split() == ["success"]
    assert not (airflow.home / "airflow.db").exists()
    # the operator sees where the metadata is, never the password: not in the output, logs or config
    shown = f"postgresql+psycopg2://airflow:***@localhost:{postgres.port}/airflow"
    assert f"metadata DB: {shown} (healthy)" in status
    assert f"metadata {shown})" in " ".join(started_again.split())  # the console may wrap this long line
    written = [status, started_again, *(p.read_text(errors="replace") for p in airflow.home.rglob("*") if p.is_file())]
    assert not [text for text in written if postgres.password in text]
