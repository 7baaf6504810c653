"""Events through the real broker, consumed, then the four DAGs with dag.test() in order; values checked."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import duckdb
import pytest
from kafka import KafkaProducer

from cxpulse.config import Settings, to_env
from streams.consumer import LandingConsumer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def contact(event_id: str, at: str, customer: str, outcome: str, wait: float, **handled: float) -> dict:
    return {
        "event_id": event_id,
        "event_type": "contact",
        "occurred_at": at,
        "customer_id": customer,
        "channel": "phone",
        "touchpoint": "q1",
        "contact_id": event_id,
        "outcome": outcome,
        "wait_s": wait,
        "reason": "billing",
        **handled,
    }


TOUCHPOINTS = [
    contact("p1", "2026-03-02T09:00:00Z", "a", "answered", 10, talk_s=100, hold_s=0, acw_s=20),
    contact("p2", "2026-03-02T10:00:00Z", "b", "abandoned", 60),
    # a calls back the next day for the same reason: p1 is not resolved at first contact
    contact("p3", "2026-03-03T09:00:00Z", "a", "answered", 40, talk_s=200, hold_s=10, acw_s=30),
]
SURVEYS = [
    {
        "response_id": "r1",
        "occurred_at": "2026-03-02T12:00:00+01:00",
        "customer_id": "a",
        "channel": "phone",
        "touchpoint": "q1",
        "survey": "post_contact",
        "nps": 9,
        "csat": 5,
    },
    {
        "response_id": "r2",
        "occurred_at": "2026-03-02T13:00:00Z",
        "customer_id": "b",
        "channel": "phone",
        "touchpoint": "q1",
        "survey": "post_contact",
        "nps": 3,
        "csat": 2,
    },
]


def test_broker_to_published_marts_through_airflow(kafka_settings: Settings, tmp_path) -> None:
    settings = dataclasses.replace(kafka_settings, idle_exit_seconds=3)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    for event in TOUCHPOINTS + [TOUCHPOINTS[0]]:  # p1 redelivered
        producer.send(settings.topic_touchpoints, json.dumps(event).encode(), key=event["customer_id"].encode())
    producer.send(settings.topic_touchpoints, b'{"event_id": "broken"')  # a dead letter
    for response in SURVEYS:
        producer.send(settings.topic_surveys, json.dumps(response).encode())
    producer.flush()
    producer.close()
    stats = LandingConsumer(settings).run(until_idle=True)
    assert stats.consumed == 7 and stats.rejected == 1

    # March 2026 events replayed later: the freshness gate must not call them stale
    settings = dataclasses.replace(settings, freshness_max_age_h=24 * 3650)
    env = {**os.environ, **to_env(settings), "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "dags"], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for dag_id in ("cx_load", "cx_marts", "cx_quality", "cx_publish"):
        assert f"{dag_id}: success" in done.stdout

    assert (settings.exports_dir / "marts.kpi_service_daily.parquet").exists()
    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        service = con.execute(
            "select cast(day as varchar), offered, answered, answer_rate, service_level, asa_s, aht_s, "
            "fcr_rate "
            "from marts.kpi_service_daily where channel = 'all' order by day"
        ).fetchall()
        # 2 March: p1 answered in 10 s (120 s handled, repeated next day), p2 abandoned
        # 3 March: p3 answered in 40 s (240 s handled), nothing after it
        assert service == [
            ("2026-03-02", 2, 1, 0.5, 0.5, 10.0, 120.0, 0.0),
            ("2026-03-03", 1, 1, 1.0, 0.0, 40.0, 240.0, 1.0),
        ]
        experience = con.execute(
            "select nps_n, promoters, detractors, nps, csat from marts.kpi_experience_daily "
            "where channel = 'all' and day = '2026-03-02'"
        ).fetchall()
        assert experience == [(2, 1, 1, 0.0, 0.5)]
        # ops.* stays in the live warehouse: the snapshot holds the marts only
        assert con.execute("select distinct table_schema from information_schema.tables").fetchall() == [("marts",)]
    finally:
        con.close()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute("select count(*) from ops.deadletters").fetchall() == [(1,)]
        assert con.execute("select sum(duplicates_dropped) from ops.loaded_files").fetchall() == [(1,)]
    finally:
        con.close()

    # Every DAG task recorded its run in ops.runs, with the DAG it ran in and the rows it wrote.
    live = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        runs = live.execute(
            "select dag_id, step, status, rows, duration_s from ops.runs order by started_at"
        ).fetchall()
    finally:
        live.close()
    assert [r[:3] for r in runs] == [
        ("cx_load", "load", "success"),
        ("cx_marts", "transform", "success"),
        ("cx_quality", "check", "success"),
        ("cx_publish", "publish", "success"),
    ]
    assert runs[0][3] == 3 + 2 + 1  # touchpoints + surveys + the dead letter; the redelivery is not a row
    assert all(r[4] > 0 for r in runs)
    steps = (settings.home / "metrics" / "cxpulse_steps.prom").read_text()
    assert 'cxpulse_step_last_success_timestamp_seconds{step="publish"}' in steps
