"""Freshness benchmark: seconds from the produce of an event to the published BI snapshot (and the
dashboard) that holds it, under the real scheduler: `cxpulse airflow start`, `cxpulse consume` as a
service, the landing watcher starting `cx_load`, the Asset chain doing the rest.

Each sample produces a few contacts with new ids, then polls `published/cx.duckdb` (read-only)
until its contact count includes them; the dashboard time is the modification time of
`reports/dashboard.html` as written by that same publish. The former 5-minute poll is modelled,
not waited for: a uniform wait for the next tick (0-300 s) plus the chain time measured here
(from the run of `cx_load` that picked the event up to the snapshot).

Usage: python -m bench.freshness [--samples 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from kafka import KafkaProducer

from cxpulse.airflow_service import AirflowApi, start, stop
from cxpulse.broker import free_port, start_broker, stop_broker
from cxpulse.config import Settings, kafka_client_options, to_env

CONTACTS_PER_SAMPLE = 5
POLL_PERIOD_S = 300
SAMPLE_BOUND_S = 600


def contacts_published(path: Path) -> int:
    if not path.exists():
        return 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(
            con.execute(
                "select coalesce(sum(offered), 0) from marts.kpi_service_daily where channel = 'all' and queue = 'all'"
            ).fetchall()[0][0]
        )
    finally:
        con.close()


def contact(now: datetime) -> bytes:
    event_id = f"fresh-{uuid.uuid4().hex}"
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": "contact",
            "occurred_at": now.isoformat(),
            "customer_id": f"c-{uuid.uuid4().hex[:8]}",
            "channel": "phone",
            "touchpoint": "billing_hotline",
            "contact_id": event_id,
            "outcome": "answered",
            "wait_s": 12,
            "talk_s": 180,
            "hold_s": 0,
            "acw_s": 30,
            "reason": "billing",
        }
    ).encode()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def measure(settings: Settings, samples: int) -> dict:
    env = {**os.environ, **to_env(settings)}
    run = [sys.executable, "-m", "cxpulse.cli"]
    # Background history, so that the quality gates see a realistic day (surveys, cases...).
    subprocess.run([*run, "simulate", "--days", "2", "--customers", "3000"], env=env, check=True, capture_output=True)
    log = (settings.home / "consume.log").open("wb")
    consumer = subprocess.Popen([*run, "consume"], env=env, stdout=log, stderr=log)
    producer = KafkaProducer(**kafka_client_options(settings, "bench-freshness"), acks="all", linger_ms=0)
    dashboard = settings.reports_dir / "dashboard.html"
    snapshot_s: list[float] = []
    dashboard_s: list[float] = []
    chain_s: list[float] = []
    try:
        info = start(settings, port=free_port(), timeout_s=600)
        api = AirflowApi(info.url, info.password_file)
        # the background history through the whole chain first
        deadline = time.monotonic() + SAMPLE_BOUND_S
        while contacts_published(settings.published_path) == 0:
            assert time.monotonic() < deadline, "the background history never reached the snapshot"
            time.sleep(1)
        for _ in range(samples):
            before = contacts_published(settings.published_path)
            produced = datetime.now(UTC)
            clock = time.monotonic()
            for _ in range(CONTACTS_PER_SAMPLE):
                producer.send(settings.topic_touchpoints, contact(produced))
            producer.flush()
            while contacts_published(settings.published_path) < before + CONTACTS_PER_SAMPLE:
                assert consumer.poll() is None, "the consumer stopped"
                assert time.monotonic() - clock < SAMPLE_BOUND_S, f"sample not published in {SAMPLE_BOUND_S} s"
                time.sleep(0.25)
            seen = time.monotonic() - clock
            snapshot_s.append(seen)
            written = datetime.fromtimestamp(dashboard.stat().st_mtime, UTC)
            dashboard_s.append((written - produced).total_seconds())
            loads = [
                r
                for r in api.dag_runs("cx_load", limit=20)
                if r["start_date"] and datetime.fromisoformat(r["start_date"]) >= produced
            ]
            if loads:  # else a run already under way picked the event up: all of it was chain time
                first_load = min(datetime.fromisoformat(r["start_date"]) for r in loads)
                chain_s.append(seen - (first_load - produced).total_seconds())
            else:
                chain_s.append(seen)
            print(f"sample: snapshot {seen:.1f} s, dashboard {dashboard_s[-1]:.1f} s", file=sys.stderr)
    finally:
        producer.close()
        stop(settings)
        consumer.terminate()
        consumer.wait(timeout=120)
        log.close()
    rng = random.Random(17)  # the poll model: the next 5-minute tick + the measured chain
    poll = [rng.uniform(0, POLL_PERIOD_S) + rng.choice(chain_s) for _ in range(10_000)]
    return {
        "freshness_samples": samples,
        "freshness_snapshot_p50_s": percentile(snapshot_s, 50),
        "freshness_snapshot_p95_s": percentile(snapshot_s, 95),
        "freshness_dashboard_p50_s": percentile(dashboard_s, 50),
        "freshness_dashboard_p95_s": percentile(dashboard_s, 95),
        "freshness_chain_p50_s": percentile(chain_s, 50),
        "freshness_poll_model_p50_s": percentile(poll, 50),
        "freshness_poll_model_p95_s": percentile(poll, 95),
        "freshness_snapshot_s": [round(s, 1) for s in snapshot_s],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    # Airflow's and kafka-python's log lines go to stdout: keep it for the JSON that bench.run reads
    saved_stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        with tempfile.TemporaryDirectory(prefix="cxpulse-bench-freshness-") as tmp:
            settings = dataclasses.replace(Settings(), home=Path(tmp), kafka_bootstrap=f"localhost:{free_port()}")
            os.environ.pop("AIRFLOW_HOME", None)
            start_broker(settings)
            try:
                result = measure(settings, args.samples)
            finally:
                stop_broker(settings)
    finally:
        sys.stdout.flush()
        os.dup2(saved_stdout, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
