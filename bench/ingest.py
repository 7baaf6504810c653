"""Ingest benchmark: Kafka -> validated durable Parquet (one consumer process) vs kcat's raw consume,
and 1 vs N `cxpulse consume` processes in one group.

Both read the same topic in the same run, so the ratio is robust to how busy the machine is.
Usage: python -m bench.ingest [--events 1000000] [--repeats 3] [--processes 1 2] [--scaleout-only]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import psutil

from bench.support import own_broker, summary
from cxpulse.broker import ensure_topics
from cxpulse.config import Settings, to_env
from streams.consumer import LandingConsumer
from streams.landing import landed_next_offset
from tests.sample import generate

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


def _latest_assignment(log: Path) -> int | None:
    """Partitions in the latest "assigned N partitions" line of a consumer's log (None before any)."""
    found = re.findall(r"assigned (\d+) partitions", log.read_text(errors="replace")) if log.exists() else []
    return int(found[-1]) if found else None


def scaleout_rates(settings: Settings, data: Path, events: int, counts: tuple[int, ...] = (1, 2)) -> dict[str, float]:
    """N `cxpulse consume` processes in one group on 3 partitions per topic, as the services they are.

    The processes start first, on topics of their own that are still empty; the events are produced
    only once every process holds its partitions (their logs say so), so no process measures a
    rebalance or a group join, and none can stop early: they run until SIGTERM, after the landing
    files reach the end offsets. Rate: events / (first produced -> every partition landed).
    """
    out = {}
    for processes in counts:
        run = dataclasses.replace(
            settings,
            home=settings.home / f"scale-{processes}",
            consumer_group=f"scale-{processes}-{time.time_ns()}",
            topic_touchpoints=f"bench.scale{processes}.touchpoints",
            topic_surveys=f"bench.scale{processes}.surveys",
        )
        ensure_topics(run.kafka_bootstrap, run)
        env = {**os.environ, **to_env(run)}
        run.home.mkdir(parents=True, exist_ok=True)
        logs = [run.home / f"consumer-{i}.log" for i in range(processes)]
        procs = []
        for log in logs:
            with log.open("wb") as stderr:
                command = [sys.executable, "-m", "cxpulse.cli", "consume"]
                procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True))
        try:
            partitions = 2 * 3
            _wait(partial(_hold, logs, partitions), f"{processes} consumers hold the {partitions} partitions")
            started = time.perf_counter()
            produce_with_kcat(run.kafka_bootstrap, run.topic_touchpoints, data)
            _wait(partial(_landed, run, end_offsets(run)), "every partition is landed", interval=0.02)
            elapsed = time.perf_counter() - started
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            outputs = [proc.communicate(timeout=120)[0] for proc in procs]
        if any(proc.returncode != 0 for proc in procs):
            raise RuntimeError(f"a consumer failed: {[log.read_text()[-2000:] for log in logs]}")
        landed = sum(int(re.search(r": (\d+) valid", o).group(1)) for o in outputs)
        if landed != events:
            raise RuntimeError(f"{processes} consumers landed {landed} events, expected {events}")
        out[f"{processes}_process"] = events / elapsed
        shutil.rmtree(run.home)
    return out


def _hold(logs: list[Path], partitions: int) -> bool:
    """Every process holds partitions, and together all of them (one stable generation)."""
    latest = [_latest_assignment(log) for log in logs]
    return all(latest) and sum(latest) == partitions


def _landed(settings: Settings, ends: dict) -> bool:
    return all(
        (landed_next_offset(settings.landing_dir, tp.topic, tp.partition) or 0) >= end for tp, end in ends.items()
    )


def _wait(predicate, what: str, timeout: float = 600, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting until {what}")
        time.sleep(interval)


def end_offsets(settings: Settings) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in settings.source_topics for p in consumer.partitions_for_topic(t)]
        return consumer.end_offsets(tps)
    finally:
        consumer.close()


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="consumer processes to compare")
    parser.add_argument("--scaleout-only", action="store_true", help="only the 1 vs N processes figures")
    args = parser.parse_args()
    if shutil.which("kcat") is None:
        raise SystemExit("kcat is missing: `apt-get install kcat` (make bench does it)")

    topics = {"topic_touchpoints": "bench.touchpoints", "topic_surveys": "bench.surveys"}
    with own_broker("cxpulse-bench-", **topics) as settings:
        messages = realistic_messages(args.events)
        data = settings.home / "events.jsonl"
        data.write_bytes(b"\n".join(messages) + b"\n")
        mean_size = sum(map(len, messages)) / len(messages)
        del messages
        scale = scaleout_rates(settings, data, args.events, tuple(args.processes))
        if args.scaleout_only:
            print(json.dumps({"events": args.events, "scaleout_events_per_s": scale, "cores": os.cpu_count()}))
            return {"scaleout_events_per_s": scale}
        produce_with_kcat(settings.kafka_bootstrap, settings.topic_touchpoints, data)
        naive = naive_rate(settings, min(args.events, 20_000))  # row inserts: a sample is enough
        kcat, ours, rss = [], [], []
        for repeat in range(args.repeats):  # interleaved, so both see the same machine state
            kcat.append(kcat_rate(settings.kafka_bootstrap, settings.topic_touchpoints, args.events))
            rate, peak = cxpulse_rate(settings, args.events, repeat)
            ours.append(rate)
            rss.append(peak)

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
