"""`cxpulse demo`, the newcomer's first command, end to end on a real broker and real Airflow.

Smaller than `make demo` (36 days: the 7-day window and its 28-day baseline) but the same path:
simulate with an NPS drop on chat -> Kafka
-> consumer -> dag.test() of the four DAGs -> reconciliation, KPI tiles, alerts, paths. The drop must
be alerted, on chat only among the channels, and the counts must reconcile; a second run must too.
"""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb
import pytest

from cxpulse.config import Settings, to_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]


def run_demo(settings: Settings) -> str:
    env = {
        **os.environ,
        **to_env(settings),
        "AIRFLOW_HOME": str(settings.home / "airflow"),
        "COLUMNS": "200",
    }
    env.pop("CXPULSE_REPORTING_TIMEZONE")  # the demo's own zone, Europe/Paris
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "demo", "--days", "36", "--customers", "125000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def test_demo_alerts_the_injected_drift_and_reconciles_twice(kafka_settings: Settings) -> None:
    out = run_demo(kafka_settings)
    for dag_id in ("cx_load", "cx_marts", "cx_quality", "cx_publish"):
        assert f"{dag_id}: success" in out
    assert "counts reconcile" in out
    assert str(kafka_settings.published_path) in out
    dashboard = kafka_settings.reports_dir / "dashboard.html"
    assert dashboard.is_file() and str(dashboard) in out

    con = duckdb.connect(str(kafka_settings.published_path), read_only=True)
    try:
        shifted = con.execute(
            "select kpi, scope, severity from marts.alerts where status = 'open' and rule like '%_shift' "
            "and scope like 'channel:%' order by all"
        ).fetchall()
        opened = con.execute(
            "select i.root_scope, i.explained_share from marts.notifications n "
            "join marts.incidents i on i.incident_id = n.subject_id where n.kind = 'incident'"
        ).fetchall()
        digests = con.execute(
            "select count(*) from marts.notifications where kind = 'digest' and delivery_status <> 'skipped'"
        ).fetchall()
    finally:
        con.close()
    assert ("nps", "channel:chat", "critical") in shifted, shifted
    assert {scope for _, scope, _ in shifted} == {"channel:chat"}, shifted
    # people are told once: one incident rooted in the chat, no flood of target breaches (history)
    assert len(opened) == 1 and opened[0][0] in ("channel:chat", "touchpoint:app_chat", "touchpoint:web_chat"), opened
    assert opened[0][1] is not None and opened[0][1] >= 0.8, opened
    assert digests == [(0,)]

    def counts() -> tuple[int, int]:
        con = duckdb.connect(str(kafka_settings.warehouse_path), read_only=True)
        try:
            return con.execute(
                "select (select count(*) from raw.touchpoints), "
                "(select sum(duplicates_dropped) from ops.loaded_files where topic = ?)",
                [kafka_settings.topic_touchpoints],
            ).fetchall()[0]
        finally:
            con.close()

    loaded, duplicates = counts()
    con = duckdb.connect(str(kafka_settings.warehouse_path), read_only=True)
    try:
        zone = con.execute("select value from ops.mart_settings where name = 'reporting_timezone'").fetchall()
    finally:
        con.close()
    assert zone == [("Europe/Paris",)]
    # the same day, the same events again: every message is a redelivery, dropped and counted
    again = run_demo(kafka_settings)
    assert "counts reconcile" in again
    assert counts() == (loaded, loaded + 2 * duplicates)
