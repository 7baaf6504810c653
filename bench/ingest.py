"""Ingest benchmark: Kafka -> validated durable Parquet (one consumer process) vs kcat's raw consume.

Both read the same topic in the same run, so the ratio is robust to how busy the machine is.
Usage: python -m bench.ingest [--events 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from cxpulse.broker import free_port, start_broker, stop_broker
from cxpulse.config import Settings
from streams.consumer import LandingConsumer
from streams.sample import generate

RESULTS = Path(__file__).resolve().parent / "results"


def realistic_messages(count: int) -> list[bytes]:
    """Valid touchpoint messages of realistic shape (~300-450 bytes), repeated with fresh ids."""
    base = generate(customers=4000, seed=1, with_malformed=False, duplicate_rate=0).touchpoints
    messages = []
    for i in range(count):
        event = json.loads(base[i % len(base)])
        event["event_id"] = f"bench-{i}"
        messages.append(json.dumps(event).encode())
    return messages


def produce_with_kcat(bootstrap: str, topic: str, path: Path) -> None:
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-z", "none", "-l", str(path)], check=True)


def kcat_rate(bootstrap: str, topic: str, events: int) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n"],
        check=True,
        capture_output=True,
    )
    elapsed = time.perf_counter() - start
    received = out.stdout.count(b"\n")
    if received != events:
        raise RuntimeError(f"kcat read {received} messages, expected {events}")
    return events / elapsed


def cxpulse_rate(settings: Settings, events: int, repeat: int) -> tuple[float, float]:
    run_settings = dataclasses.replace(
        settings,
        home=settings.home / f"consumer-{repeat}",
        consumer_group=f"bench-{repeat}-{time.time_ns()}",
        idle_exit_seconds=2.0,
    )
    process = psutil.Process()
    consumer = LandingConsumer(run_settings)
    stats = consumer.run(until_idle=True)
    if stats.valid != events:
        raise RuntimeError(f"consumer landed {stats.valid} events, expected {events}")
    rss_mb = process.memory_info().rss / 2**20
    shutil.rmtree(run_settings.home)
    return events / stats.busy_seconds, rss_mb


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("kcat") is None:
        raise SystemExit("kcat is missing: `apt-get install kcat` (make bench does it)")

    home = Path(tempfile.mkdtemp(prefix="cxpulse-bench-"))
    settings = Settings(
        home=home,
        kafka_bootstrap=f"localhost:{free_port()}",
        topic_touchpoints="bench.touchpoints",
        topic_surveys="bench.surveys",
    )
    start_broker(settings)
    try:
        messages = realistic_messages(args.events)
        data = home / "events.jsonl"
        data.write_bytes(b"\n".join(messages) + b"\n")
        produce_with_kcat(settings.kafka_bootstrap, settings.topic_touchpoints, data)
        mean_size = sum(map(len, messages)) / len(messages)
        del messages
        kcat, ours, rss = [], [], []
        for repeat in range(args.repeats):  # interleaved, so both see the same machine state
            kcat.append(kcat_rate(settings.kafka_bootstrap, settings.topic_touchpoints, args.events))
            rate, peak = cxpulse_rate(settings, args.events, repeat)
            ours.append(rate)
            rss.append(peak)
    finally:
        stop_broker(settings)
        shutil.rmtree(home, ignore_errors=True)

    result = {
        "events": args.events,
        "mean_message_bytes": round(mean_size),
        "ingest_events_per_s": summary(ours),
        "kcat_events_per_s": summary(kcat),
        "ingest_vs_kcat": statistics.median(ours) / statistics.median(kcat),
        "peak_rss_mb": {"ingest": max(rss)},
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
