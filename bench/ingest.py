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


def naive_rate(settings: Settings, events: int) -> float:
    """What a user would write first: a kafka-python loop, json.loads, one DuckDB INSERT per event."""
    import duckdb
    from kafka import KafkaConsumer

    con = duckdb.connect(str(settings.home / "naive.duckdb"))
    con.execute(
        "create table events (event_id varchar, event_type varchar, occurred_at varchar, "
        "customer_id varchar, channel varchar, touchpoint varchar, payload varchar)"
    )
    consumer = KafkaConsumer(
        settings.topic_touchpoints,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"naive-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        consumer_timeout_ms=5000,
    )
    seen = 0
    started = None
    for message in consumer:
        started = started or time.perf_counter()
        event = json.loads(message.value)
        con.execute(
            "insert into events values (?, ?, ?, ?, ?, ?, ?)",
            [
                event["event_id"],
                event["event_type"],
                event["occurred_at"],
                event["customer_id"],
                event["channel"],
                event["touchpoint"],
                message.value.decode(),
            ],
        )
        seen += 1
        if seen >= events:
            break
    elapsed = time.perf_counter() - started
    consumer.close()
    con.close()
    return seen / elapsed


def scaleout_rates(settings: Settings, events: int) -> dict[str, float]:
    """1 vs 2 `cxpulse consume` processes in one group on the 3 partitions: events / busiest process time."""
    import subprocess
    import sys

    from cxpulse.config import to_env

    out = {}
    for processes in (1, 2):
        run = dataclasses.replace(
            settings,
            home=settings.home / f"scale-{processes}",
            consumer_group=f"scale-{processes}-{time.time_ns()}",
            idle_exit_seconds=3.0,
        )
        env = {**os.environ, **to_env(run)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cxpulse.cli", "consume", "--until-idle"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(processes)
        ]
        outputs = [p.communicate(timeout=600)[0] for p in procs]
        busy = [float(o.rsplit("busy ", 1)[1].split(" s")[0]) for o in outputs]
        landed = sum(int(o.split(": ", 1)[1].split(" valid")[0]) for o in outputs)
        if landed != events:
            raise RuntimeError(f"{processes} consumers landed {landed} events, expected {events}")
        out[f"{processes}_process"] = events / max(busy)
        shutil.rmtree(run.home)
    return out


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
        naive = naive_rate(settings, min(args.events, 20_000))  # row inserts: a sample is enough
        scale = scaleout_rates(settings, args.events)
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
        "naive_events_per_s": naive,
        "scaleout_events_per_s": scale,
        "scaleout_2_vs_1": scale["2_process"] / scale["1_process"],
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
