"""Several `cxpulse consume` processes in one group: processes join, leave (SIGTERM) and die (SIGKILL)
while messages keep arriving, so partitions move while batches are open. Every message lands or is
quarantined exactly once, the landing files tile the offsets, and `--until-idle` exits only when the
whole group is caught up (never while a dead member still holds partitions with messages)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from cxpulse.broker import free_port
from cxpulse.config import Settings, to_env
from tests.reliability.support import (
    SteadyProducer,
    all_landed,
    assert_warehouse_exact,
    audit,
    committed_offsets,
    end_offsets,
    landed,
    landing_file_count,
    log_count,
    make_stream,
    produce,
    scrape,
    start_consumer,
    stop_consumer,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration

PARTITIONS = 6  # per source topic: 12 partitions to share between up to 3 live processes


def _with_partitions(settings: Settings, partitions: int) -> Settings:
    """The test's own source topics, with more partitions than the default 3."""
    suffix = os.urandom(4).hex()
    settings = dataclasses.replace(
        settings, topic_touchpoints=f"scale.touchpoints.{suffix}", topic_surveys=f"scale.surveys.{suffix}"
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.create_topics([NewTopic(t, partitions, 1) for t in settings.source_topics])
    finally:
        admin.close()
    wait_until(lambda: len(end_offsets(settings)) == 2 * partitions, 30, "the topics have their partitions")
    return settings


def _assigned(log: Path) -> int:
    """Assignments a consumer received so far (each rebalance it takes part in logs one)."""
    return log_count(log, "assigned ")


def _owns(log: Path, count: int) -> bool:
    """The consumer's latest assignment holds `count` partitions."""
    text = log.read_text(errors="replace") if log.exists() else ""
    lines = [line for line in text.splitlines() if "streams.consumer: assigned " in line]
    return bool(lines) and f"assigned {count} partitions" in lines[-1]


def _check_commits(settings: Settings) -> None:
    for tp, offset in committed_offsets(settings).items():
        assert offset <= landed(settings, tp), f"{tp}: committed {offset} past the landed files"


@pytest.mark.timeout(600)
def test_processes_join_leave_and_die_mid_stream_lose_nothing_and_double_nothing(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(
        _with_partitions(kafka_settings, PARTITIONS), batch_max_messages=2_000, batch_max_seconds=1.0
    )
    total = 2 * PARTITIONS
    messages, _ = make_stream(settings, 400_000, "scale")
    feeder = SteadyProducer(settings, messages, per_second=1_500)  # until stopped (~4 minutes at most)
    logs = {name: tmp_path / f"{name}.log" for name in "ABCDEF"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        feeder.start()
        procs["A"] = start_consumer(settings, logs["A"])
        wait_until(lambda: _owns(logs["A"], total), 120, "A holds every partition")
        wait_until(lambda: landing_file_count(settings) >= total, 120, "A lands files")

        # B joins: a rebalance while A has batches open.
        procs["B"] = start_consumer(settings, logs["B"])
        wait_until(lambda: _assigned(logs["B"]) and _assigned(logs["A"]) >= 2, 120, "B joins, A is reassigned")
        # C joins.
        seen = {name: _assigned(logs[name]) for name in "AB"}
        procs["C"] = start_consumer(settings, logs["C"])
        wait_until(lambda: _assigned(logs["C"]) and all(_assigned(logs[n]) > seen[n] for n in "AB"), 120, "C joins")
        files = landing_file_count(settings)
        wait_until(lambda: landing_file_count(settings) > files + 3, 120, "the three land files")

        # A leaves with SIGTERM: it lands what it holds, commits and exits 0; B and C share its partitions.
        seen = {name: _assigned(logs[name]) for name in "BC"}
        assert stop_consumer(procs["A"]) == 0, logs["A"].read_text()[-3000:]
        wait_until(lambda: all(_assigned(logs[n]) > seen[n] for n in "BC"), 120, "B and C take A's partitions")
        _check_commits(settings)

        # B dies with SIGKILL: its open batches are lost, C gets its partitions once the group expires it.
        procs["B"].send_signal(signal.SIGKILL)
        procs["B"].wait()
        _check_commits(settings)
        wait_until(lambda: _owns(logs["C"], total), 120, "C holds every partition after B's session expired")

        # D joins, and C dies right after the rebalance, with batches open.
        seen = {"C": _assigned(logs["C"])}
        procs["D"] = start_consumer(settings, logs["D"])
        wait_until(lambda: _assigned(logs["D"]) and _assigned(logs["C"]) > seen["C"], 120, "D joins")
        procs["C"].send_signal(signal.SIGKILL)
        procs["C"].wait()
        _check_commits(settings)

        # E and F come to drain (--until-idle); D dies while the last messages arrive, holding partitions.
        procs["E"] = start_consumer(settings, logs["E"], "--until-idle")
        procs["F"] = start_consumer(settings, logs["F"], "--until-idle")
        wait_until(lambda: _assigned(logs["E"]) and _assigned(logs["F"]), 120, "E and F join")
        files = landing_file_count(settings)
        wait_until(lambda: landing_file_count(settings) > files, 120, "the group lands after E and F joined")
        procs["D"].send_signal(signal.SIGKILL)
        procs["D"].wait()
        feeder.stop()
        feeder.finish(timeout=60)
        mid_stream = not all_landed(settings, end_offsets(settings))

        # E and F stop by themselves only once the whole group is caught up: D's partitions included,
        # which they get only after D's session expires.
        for name in "EF":
            assert procs[name].wait(timeout=180) == 0, logs[name].read_text()[-3000:]
        assert all_landed(settings, end_offsets(settings)), "an --until-idle consumer stopped with lag"
        _check_commits(settings)
    finally:
        feeder.stop()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    _, produced = make_stream(settings, feeder.sent, "scale")
    assert sum(end_offsets(settings).values()) == feeder.sent
    totals = audit(settings, produced)
    assert totals["landed"] + totals["quarantined"] == feeder.sent
    assert_warehouse_exact(settings, produced)
    status = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "status", "--check"],
        env={**os.environ, **to_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "lag: 0 messages not landed yet" in status.stdout and "counts reconcile" in status.stdout
    assert "last publish: never" in status.stdout
    text = "".join(log.read_text(errors="replace") for log in logs.values())
    # The rebalances really happened while batches were open (their messages were read again).
    dropped = [int(n) for n in re.findall(r"revoked \d+ partitions with (\d+) messages not landed", text)]
    assert dropped, "no rebalance caught a batch open"
    assert mid_stream, "D died with nothing left to land: the drain was not tested"
    assert "caught up:" in logs["E"].read_text() and "caught up:" in logs["F"].read_text()
    print(
        f"{feeder.sent} messages; {len(dropped)} revocations dropped {sum(dropped)} buffered messages "
        "that their next owner read again"
    )


@pytest.mark.timeout(300)
def test_until_idle_processes_started_together_land_everything(kafka_settings: Settings, tmp_path: Path) -> None:
    """What `make bench QUICK=1` met on a fresh machine: two `--until-idle` processes started at once on a
    topic that is already full. Neither may stop during the group's rebalances, nor before its join."""
    settings = dataclasses.replace(kafka_settings, batch_max_messages=5_000)
    messages, produced = make_stream(settings, 60_000, "together")
    produce(settings, messages)
    env = {**os.environ, **to_env(settings)}
    logs = [tmp_path / f"consumer-{i}.log" for i in range(2)]
    procs = []
    try:
        for log in logs:
            with log.open("wb") as stderr:
                command = [sys.executable, "-m", "cxpulse.cli", "consume", "--until-idle"]
                procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True))
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    except subprocess.TimeoutExpired:
        pytest.fail("a consumer did not stop: " + " | ".join(log.read_text()[-2000:] for log in logs))
    finally:
        for proc in procs:  # never left running after the test (it would spin against a stopped broker)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [p.returncode for p in procs] == [0, 0], [log.read_text()[-2000:] for log in logs]
    assert all_landed(settings, end_offsets(settings))
    valid = sum(int(re.search(r": (\d+) valid", out).group(1)) for out in outputs)
    dead = sum(int(re.search(r"valid, (\d+) dead letters", out).group(1)) for out in outputs)
    totals = audit(settings, produced)
    assert valid == totals["landed"] and dead == totals["quarantined"]
    assert valid + dead == len(messages)


@pytest.mark.timeout(300)
def test_until_idle_waits_for_the_partitions_of_a_member_that_died(kafka_settings: Settings, tmp_path: Path) -> None:
    """Y (--until-idle) has drained its own partitions while X holds the others' messages in memory; X
    is SIGKILLed. "Caught up" is about the group: Y stops only after the group expired X, gave Y its
    partitions and Y landed them. ("No message for N seconds" stopped Y with X's partitions unlanded.)"""
    # X never lands by itself: its batches neither fill up nor age out.
    holder = dataclasses.replace(kafka_settings, batch_max_messages=10**9, batch_max_seconds=3_600)
    logs = {name: tmp_path / f"{name}.log" for name in "XY"}
    port = free_port()
    x = start_consumer(holder, logs["X"], "--metrics-port", str(port))
    y = None
    try:
        wait_until(lambda: _owns(logs["X"], 6), 120, "X holds the 6 partitions")
        messages, produced = make_stream(kafka_settings, 6_000, "held")
        produce(kafka_settings, messages)
        ends = end_offsets(kafka_settings)

        def consumed_by_x() -> float:
            samples = scrape(port)
            topics = kafka_settings.source_topics
            return sum(value(samples, "cxpulse_consumer_messages_consumed_total", topic=t) or 0 for t in topics)

        wait_until(lambda: consumed_by_x() == len(messages), 60, "X has read everything (and landed nothing)")
        y = start_consumer(kafka_settings, logs["Y"], "--until-idle")
        wait_until(lambda: any(landed(kafka_settings, tp) for tp in ends), 120, "Y joins and lands its share")
        assert not all_landed(kafka_settings, ends), "X's partitions are landed: nothing to wait for"
        x.send_signal(signal.SIGKILL)
        x.wait()
        assert y.wait(timeout=120) == 0, logs["Y"].read_text()[-3000:]
        assert all_landed(kafka_settings, ends), "Y stopped with X's partitions not landed"
    finally:
        for proc in (x, y):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    audit(kafka_settings, produced)
