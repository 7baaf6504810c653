"""A drift injected upstream reaches the CX lead: answers through the real broker, consumed, the DAGs
run with dag.test(), and exactly the injected NPS drop is alerted, with its evidence."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from kafka import KafkaProducer

from cxpulse.config import Settings, to_env
from streams.consumer import LandingConsumer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

CHANNELS = ["phone", "chat", "email", "web", "app"]
BASE = [2] * 7 + [15, 25, 20, 20]  # weights of NPS 0..10: NPS about 26


def answers(seed: int, days: int, per_day: int, now: datetime) -> list[dict]:
    """Survey answers over the last `days` days; chat loses 20 NPS points in the last 7 days."""
    rng = random.Random(seed)
    dropped = list(BASE)
    dropped[9] -= 5
    dropped[10] -= 5
    dropped[0] += 5
    dropped[3] += 5
    out = []
    for day in range(days, 0, -1):
        for i in range(per_day):
            channel = rng.choice(CHANNELS)
            weights = dropped if channel == "chat" and day <= 7 else BASE
            nps = rng.choices(range(11), weights)[0]
            moment = now - timedelta(days=day) + timedelta(seconds=rng.randrange(86400))
            out.append(
                {
                    "response_id": f"r{day}-{i}",
                    "occurred_at": moment.isoformat(),
                    "customer_id": f"c{i}",
                    "channel": channel,
                    "touchpoint": f"{channel}_main",
                    "survey": "post_contact",
                    "nps": nps,
                    "csat": min(5, max(1, round(nps / 2.2 + rng.gauss(0, 0.7)))),
                }
            )
    return out


def test_injected_nps_drop_is_alerted_through_broker_and_dags(kafka_settings: Settings, tmp_path) -> None:
    settings = dataclasses.replace(kafka_settings, idle_exit_seconds=4, batch_max_messages=20_000)
    now = datetime.now(UTC)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1, linger_ms=20)
    for answer in answers(seed=8, days=35, per_day=700, now=now):
        producer.send(settings.topic_surveys, json.dumps(answer).encode(), key=answer["customer_id"].encode())
    # one recent contact so the touchpoint freshness gate passes
    contact = {
        "event_id": "e1",
        "event_type": "journey_step",
        "occurred_at": (now - timedelta(hours=1)).isoformat(),
        "customer_id": "c1",
        "channel": "web",
        "touchpoint": "checkout",
        "step_status": "ok",
    }
    producer.send(settings.topic_touchpoints, json.dumps(contact).encode(), key=b"c1")
    producer.flush()
    producer.close()
    LandingConsumer(settings).run(until_idle=True)

    env = {**os.environ, **to_env(settings), "AIRFLOW_HOME": str(tmp_path / "airflow")}
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "dags"], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    con = duckdb.connect(str(settings.published_path), read_only=True)
    try:
        shifts = con.execute(
            "select rule, kpi, scope, severity, n_current, n_baseline, current_value - baseline_value, evidence, "
            "message from marts.alerts where rule in ('nps_shift', 'csat_shift', 'ces_shift', 'service_shift')"
        ).fetchall()
        drift = con.execute("select scope from marts.alerts where rule = 'distribution_drift'").fetchall()
    finally:
        con.close()
    nps = [s for s in shifts if s[1] == "nps"]
    assert [s[2] for s in nps if s[2].startswith("channel:")] == ["channel:chat"]
    assert not [s for s in shifts if s[2].startswith("channel:") and s[2] != "channel:chat"]
    rule, kpi, scope, severity, n_current, n_baseline, delta, evidence, message = next(
        s for s in nps if s[2] == "channel:chat"
    )
    assert severity == "critical" and delta < -10 and n_current > 500 and n_baseline > 2000
    assert evidence and evidence.endswith(".html") and os.path.exists(evidence)
    assert "Net Promoter Score on channel:chat fell" in message
    assert all(scope.endswith("chat") or scope.startswith("touchpoint:chat") for (scope,) in drift)
