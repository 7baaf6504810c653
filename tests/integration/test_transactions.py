"""A transactional Java producer (the Kafka jars' KafkaProducer): one transaction committed, one aborted,
one left open while the consumer runs and committed later. Aborted records are never landed, loaded or
alerted on; the open one lands only after its commit; the transaction markers and aborted records are
counted by the reconciliation, which balances."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition

from cxpulse.config import Settings, to_env
from cxpulse.reconcile import check_balanced, reconcile
from streams.consumer import LandingConsumer
from streams.landing import landed_next_offset
from tests.integration import java_producer
from warehouse.db import connect
from warehouse.loader import load

pytestmark = pytest.mark.integration

COMMITTED, ABORTED, HELD = 20, 15, 10


def detractor(response_id: str) -> bytes:
    return json.dumps(
        {
            "response_id": response_id,
            "occurred_at": "2026-03-02T10:00:00Z",
            "customer_id": "cust-tx",
            "channel": "chat",
            "touchpoint": "web_chat",
            "survey": "post_contact",
            "nps": 1,  # every one of them is a hot alert, when delivered
        }
    ).encode()


def landed_rows(settings: Settings, topic: str) -> set[str]:
    folder = settings.landing_dir / topic / "0"
    ids: set[str] = set()
    for path in folder.glob("*.parquet") if folder.is_dir() else ():
        ids.update(pq.read_table(path, columns=["response_id"])["response_id"].to_pylist())
    return ids


def wait_until(condition, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_aborted_never_lands_open_lands_after_commit_and_markers_are_counted(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_seconds=0.5)
    topic = settings.topic_surveys
    batches = {
        name: [(f"cust-{name}", detractor(f"{name}-{i}")) for i in range(n)]
        for name, n in (("committed", COMMITTED), ("aborted", ABORTED), ("held", HELD))
    }
    steps = [
        f"commit:{java_producer.write_lines(tmp_path / 'committed.txt', batches['committed'])}",
        f"abort:{java_producer.write_lines(tmp_path / 'aborted.txt', batches['aborted'])}",
        f"hold:{java_producer.write_lines(tmp_path / 'held.txt', batches['held'])}",
    ]
    producer = subprocess.Popen(
        java_producer.command(settings.kafka_bootstrap, topic, steps, transactional_id=f"tx-{topic}", partition=0),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    consumer = LandingConsumer(settings)
    worker = threading.Thread(target=consumer.run, daemon=True)
    try:
        assert producer.stdout.readline().split() == ["commit", str(COMMITTED)]
        assert producer.stdout.readline().split() == ["abort", str(ABORTED)]
        assert producer.stdout.readline().split() == ["open", str(HELD)]
        worker.start()

        # The consumer lands the committed records and moves past the aborted ones and both markers,
        # up to the first offset of the open transaction, where read_committed stops.
        open_starts_at = COMMITTED + 1 + ABORTED + 1
        wait_until(
            lambda: landed_next_offset(settings.landing_dir, topic, 0) == open_starts_at,
            "the consumer to reach the open transaction",
        )
        assert landed_rows(settings, topic) == {f"committed-{i}" for i in range(COMMITTED)}

        producer.stdin.write("commit\n")
        producer.stdin.flush()
        assert producer.stdout.readline().split() == ["hold", str(HELD)]
        assert producer.wait(timeout=60) == 0
        end = open_starts_at + HELD + 1  # + the commit marker of the held transaction
        wait_until(lambda: landed_next_offset(settings.landing_dir, topic, 0) == end, "the committed held records")
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.wait()
        consumer.request_stop()
        worker.join(timeout=60)
    assert not worker.is_alive()

    expected = {f"committed-{i}" for i in range(COMMITTED)} | {f"held-{i}" for i in range(HELD)}
    assert landed_rows(settings, topic) == expected
    con = connect(settings.warehouse_path)
    try:
        load(con, settings)
        loaded = {r[0] for r in con.execute("select response_id from raw.surveys").fetchall()}
        assert loaded == expected
        assert con.execute("select count(*) from ops.deadletters").fetchone()[0] == 0
        rows = {(r.topic, r.partition): r for r in reconcile(con, settings)}
        check_balanced(list(rows.values()))
        partition = rows[(topic, 0)]
        assert (partition.produced, partition.loaded, partition.lag) == (end, COMMITTED + HELD, 0)
        assert partition.txn_skipped == ABORTED + 3  # the aborted records and three markers
    finally:
        con.close()

    # Hot alerts: the committed and the held answers, never the aborted ones.
    alerts = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        tp = TopicPartition(settings.topic_alerts, 0)
        alerts.assign([tp])
        end_of_alerts = alerts.end_offsets([tp])[tp]
        alerted: set[str] = set()
        while alerts.position(tp) < end_of_alerts:
            for batch in alerts.poll(timeout_ms=1000).values():
                alerted.update(json.loads(m.value)["response_id"] for m in batch)
    finally:
        alerts.close()
    assert alerted == expected

    env = {**os.environ, **to_env(settings)}
    status = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "status", "--check"], env=env, capture_output=True, text=True, timeout=120
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "txn skipped" in status.stdout and "commit/abort marker" in status.stdout
