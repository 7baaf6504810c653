"""Alerts benchmark: the drift check over 90 days x all scopes, and hot-path alert latency
(produce -> consumer -> cx.alerts) against a real broker.

Usage: python -m bench.alerts [--touchpoints 1000000] [--hot 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from bench.marts import generate
from cxpulse.broker import free_port, start_broker, stop_broker
from cxpulse.config import Settings
from quality.check import run_checks
from quality.drift import Windows, detect
from streams.consumer import LandingConsumer
from transforms.runner import build
from warehouse.db import connect

DAYS = 90
START = date(2026, 1, 1)


def drift_check_seconds(touchpoints: int, repeats: int, home: Path) -> tuple[list[float], list[float], float]:
    """Seconds of the statistics alone, of the whole quality check (model tests, Great Expectations
    gates, drift, Evidently report, target breaches, alert table; no delivery), and of the imports."""
    settings = dataclasses.replace(Settings(), home=home, freshness_max_age_h=24 * 3650)
    con = connect(settings.warehouse_path)
    generate(con, touchpoints, "drift", START, DAYS)
    build(con, settings, full=True)
    as_of = datetime.combine(START + timedelta(days=DAYS), datetime.min.time(), UTC)
    windows = Windows.ending(as_of, settings.alert_current_days, settings.alert_baseline_days)
    started = time.perf_counter()
    import evidently  # noqa: F401
    import great_expectations  # noqa: F401 - the first check of a process pays these imports

    imports = time.perf_counter() - started
    stats, whole = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        findings = detect(con, settings, windows)
        stats.append(time.perf_counter() - started)
        started = time.perf_counter()
        run_checks(con, settings, as_of, deliver=False)
        whole.append(time.perf_counter() - started)
    assert findings
    con.close()
    return stats, whole, imports


def hot_latencies(count: int, home: Path) -> list[float]:
    settings = Settings(home=home / "hot", kafka_bootstrap=f"localhost:{free_port()}")
    start_broker(settings)
    consumer = LandingConsumer(settings)
    worker = threading.Thread(target=consumer.run, daemon=True)  # until request_stop
    try:
        worker.start()
        alerts = KafkaConsumer(
            settings.topic_alerts, bootstrap_servers=settings.kafka_bootstrap, group_id=None, auto_offset_reset="latest"
        )
        alerts.poll(timeout_ms=2000)
        while not consumer.assigned and worker.is_alive():  # the consumer holds its partitions
            time.sleep(0.05)
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks=1, linger_ms=0)
        latencies = []
        for i in range(count):
            answer = {
                "response_id": f"h{i}",
                "occurred_at": datetime.now(UTC).isoformat(),
                "customer_id": f"c{i}",
                "channel": "chat",
                "touchpoint": "web_chat",
                "survey": "post_contact",
                "nps": 0,
            }
            sent = time.perf_counter()
            producer.send(settings.topic_surveys, json.dumps(answer).encode(), key=f"c{i}".encode())
            producer.flush()
            got = False
            while not got and time.perf_counter() - sent < 30:
                for batch in alerts.poll(timeout_ms=50).values():
                    got = got or any(json.loads(m.value).get("response_id") == f"h{i}" for m in batch)
            latencies.append(time.perf_counter() - sent)
            time.sleep(0.05)
        producer.close()
        alerts.close()
        return latencies
    finally:
        consumer.request_stop()
        worker.join(timeout=30)
        stop_broker(settings)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--touchpoints", type=int, default=1_000_000)
    parser.add_argument("--hot", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="cxpulse-bench-alerts-"))
    try:
        stats, whole, imports = drift_check_seconds(args.touchpoints, args.repeats, home)
        hot = sorted(hot_latencies(args.hot, home))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "drift_check_s": {"min": min(whole), "median": statistics.median(whole), "max": max(whole)},
        "drift_statistics_s": {"min": min(stats), "median": statistics.median(stats), "max": max(stats)},
        "check_imports_s": imports,
        "drift_touchpoints": args.touchpoints,
        "hot_alert_p50_s": hot[len(hot) // 2],
        "hot_alert_p95_s": hot[int(len(hot) * 0.95) - 1],
        "hot_alerts": len(hot),
        "peak_rss_mb": {"quality_check": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024},
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
