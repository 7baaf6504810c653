"""Codec and memory benchmark: ingest rate per compression codec, and the consumer's peak RSS with
1 MB records and with gzip batches of a high compression ratio.

Every consumer run is its own process (`python -m bench.codecs --consume ...`), so its peak RSS
(ru_maxrss from wait4) is its own. Codec topics are written by kcat (librdkafka, `-z <codec>`); the
high-ratio gzip batches by the Java producer of the Kafka jars (kafka/CxProducer.java), whose
batch.size counts compressed bytes, so one batch holds many MB of highly compressible JSON.
Usage: python -m bench.codecs [--events 200000] [--large 300] [--repeats 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cxpulse.broker import ensure_topics, free_port, start_broker, stop_broker
from cxpulse.config import Settings, to_env

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")


def consume(settings: Settings) -> None:
    """Child process: consume until idle, print the figures as JSON."""
    from streams.consumer import LandingConsumer

    stats = LandingConsumer(settings).run(until_idle=True)
    print(json.dumps({"valid": stats.valid, "busy_s": stats.busy_seconds}))


def run_consumer(settings: Settings, topic: str, name: str) -> dict:
    """One consumer process on `topic`: events landed, events/s over its busy time, peak RSS in MB."""
    run = dataclasses.replace(
        settings, home=settings.home / name, topic_touchpoints=topic, consumer_group=name, idle_exit_seconds=10.0
    )
    env = {**os.environ, **to_env(run)}
    out = run.home / "out.json"
    run.home.mkdir(parents=True)
    with out.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "bench.codecs", "--consume"], env=env, stdout=fh)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"consumer of {topic} exited {proc.returncode}")
    figures = json.loads(out.read_text().strip().splitlines()[-1])
    shutil.rmtree(run.home)
    return {
        "events": figures["valid"],
        "events_per_s": figures["valid"] / figures["busy_s"] if figures["busy_s"] else 0.0,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def topics_for(settings: Settings, name: str) -> str:
    ensure_topics(settings.kafka_bootstrap, dataclasses.replace(settings, topic_touchpoints=name))
    return name


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--large", type=int, default=300, help="number of ~1 MB records")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--consume", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        from cxpulse.config import load_settings

        consume(load_settings())
        return {}
    if shutil.which("kcat") is None:
        raise SystemExit("kcat is missing: `apt-get install kcat` (make bench does it)")
    from bench.ingest import realistic_messages
    from tests.integration import java_producer

    home = Path(tempfile.mkdtemp(prefix="cxpulse-bench-codecs-"))
    settings = Settings(home=home, kafka_bootstrap=f"localhost:{free_port()}")
    start_broker(settings)
    result: dict = {"events": args.events, "large_records": args.large}
    try:
        data = home / "events.jsonl"
        data.write_bytes(b"\n".join(realistic_messages(args.events)) + b"\n")
        rates: dict[str, list[float]] = {codec: [] for codec in CODECS}
        rss: dict[str, float] = {}
        for codec in CODECS:
            topic = topics_for(settings, f"bench.codec.{codec}")
            subprocess.run(
                ["kcat", "-P", "-b", settings.kafka_bootstrap, "-t", topic, "-z", codec, "-l", str(data)], check=True
            )
        for repeat in range(args.repeats):  # interleaved: every codec sees the same machine state
            for codec in CODECS:
                run = run_consumer(settings, f"bench.codec.{codec}", f"codec-{codec}-{repeat}")
                if run["events"] != args.events:
                    raise RuntimeError(f"{codec}: landed {run['events']} events, expected {args.events}")
                rates[codec].append(run["events_per_s"])
                rss[codec] = max(rss.get(codec, 0.0), run["peak_rss_mb"])
        result["events_per_s"] = {codec: statistics.median(v) for codec, v in rates.items()}
        result["vs_none"] = {c: result["events_per_s"][c] / result["events_per_s"]["none"] for c in CODECS}
        result["codec_peak_rss_mb"] = rss

        # ~1 MB records (just under the broker's 1 MiB limit), the bulk in an unknown field.
        base = json.loads(realistic_messages(1)[0])
        large = home / "large.jsonl"
        with large.open("wb") as fh:
            for i in range(args.large):
                record = {**base, "event_id": f"large-{i}", "attachment": "x" * 1_000_000}
                fh.write(json.dumps(record).encode() + b"\n")
        topic = topics_for(settings, "bench.large")
        subprocess.run(
            ["kcat", "-P", "-b", settings.kafka_bootstrap, "-t", topic, "-z", "none", "-X", "message.max.bytes=1048576"]
            + ["-l", str(large)],
            check=True,
        )
        result["large_1mb"] = run_consumer(settings, topic, "large")

        # gzip batches of a high ratio: 100 KB records of one repeated character, 8 MB Java batches.
        ratio_events = max(args.large * 4, 400)
        lines = home / "ratio.txt"
        java_producer.write_lines(
            lines,
            (
                (f"c{i}", json.dumps({**base, "event_id": f"ratio-{i}", "attachment": "a" * 100_000}).encode())
                for i in range(ratio_events)
            ),
        )
        topic = topics_for(settings, "bench.gzip.ratio")
        printed = java_producer.run(
            settings.kafka_bootstrap, topic, [f"send:{lines}"], compression="gzip", batch_size=8 * 1024 * 1024
        )
        result["gzip_ratio"] = {
            "events": ratio_events,
            "record_bytes": len(lines.read_bytes()) // ratio_events,
            "compression_rate": printed["compression-rate-avg"],
            **run_consumer(settings, topic, "ratio"),
        }
    finally:
        stop_broker(settings)
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
