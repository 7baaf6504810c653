"""The published snapshot as a BI tool sees it: the DuckDB JDBC driver of the 1.4 LTS line (what DBeaver
and Metabase's DuckDB driver embed), fetched from Maven Central by `make setup` (bi/pom.xml), opening
the file with duckdb.read_only=true through bi/ReadSnapshot.java, compiled when the test runs.

DuckDB 2.0 writes a storage format that 1.4 refuses ("can only read versions between 64 and 67"):
these tests fail if the snapshot is not written in an older STORAGE_VERSION, if it holds anything
but the marts, or if a publishing run and a reader get in each other's way.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import struct
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings, to_env
from cxpulse.pipeline import run_once
from streams.contracts import decode_survey, decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from tests.sample import generate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
READER = ROOT / "bi" / "ReadSnapshot.java"
JDBC_VERSION = "1.4.4.0"


def jdbc_jar() -> Path:
    jar = ROOT / ".cache" / "bi-jdbc" / f"duckdb_jdbc-{JDBC_VERSION}.jar"
    assert jar.is_file(), f"{jar} missing: run `make setup` (it fetches the DuckDB JDBC driver from bi/pom.xml)"
    return jar


def java_reader(*args: str) -> list[str]:
    java = shutil.which("java")
    assert java, "Java 17 is a requirement of the project (README)"
    return [java, "-cp", str(jdbc_jar()), str(READER), *args]


def land(settings: Settings, seed: int, first_offset: int) -> tuple[int, int]:
    """Land one batch of simulated touchpoints and surveys; returns (next offset, contact events landed)."""
    sample = generate(customers=250, seed=seed, with_malformed=False, duplicate_rate=0)
    now = datetime.now(UTC)
    contacts = 0
    for kind, topic, messages, decode in (
        ("touchpoints", "cx.touchpoints", sample.touchpoints, decode_touchpoint),
        ("surveys", "cx.surveys", sample.surveys, decode_survey),
    ):
        events = [decode(m, now) for m in messages]
        offsets = list(range(first_offset, first_offset + len(messages)))
        write_durably(
            events_table(kind, events, messages, offsets, topic, 0),
            batch_path(settings.landing_dir, topic, 0, offsets[0], offsets[-1]),
        )
        if kind == "touchpoints":
            contacts = sum(type(e).__struct_config__.tag == "contact" for e in events)
    return first_offset + max(len(sample.touchpoints), len(sample.surveys)), contacts


def test_jdbc_1_4_reads_every_mart_of_the_snapshot_read_only(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1")
    land(settings, seed=41, first_offset=0)
    snapshot = run_once(settings).snapshot

    # storage format of the 1.0 line (version number 64), which every DuckDB from 1.0 on reads
    header = snapshot.read_bytes()[:20]
    assert header[8:12] == b"DUCK" and struct.unpack("<Q", header[12:20])[0] == 64
    live = duckdb.connect(str(settings.warehouse_path), read_only=True)
    expected = {
        table: live.execute(f'select count(*) from marts."{table}"').fetchall()[0][0]
        for (table,) in live.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
        ).fetchall()
    }
    live.close()
    assert {"kpi_service_daily", "kpi_experience_daily", "progress_dashboard", "alerts"} <= set(expected)
    assert {"experience_dimensions", "experience_economics"} <= set(expected)

    done = subprocess.run(java_reader("once", str(snapshot)), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    version = next(line.split(" ", 1)[1] for line in lines if line.startswith("duckdb "))
    assert version.startswith("v1.4."), version  # really the 1.4 LTS engine, not a newer one
    schemas = next(line.split(" ", 1)[1] for line in lines if line.startswith("schemas ")).split(",")
    assert set(schemas) <= {"main", "marts"}, schemas  # no raw, staging or ops for BI users
    read = {}
    for line in lines:
        if line.startswith("table "):
            _, table, rows, _ = line.split(" ")
            read[table] = int(rows.removeprefix("rows="))
    assert read == expected  # every mart, every row, every column decoded by the 1.4 driver
    assert sum(read.values()) > 0
    assert "write refused" in lines


def test_jdbc_reader_loops_while_cxpulse_run_publishes_twice(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1")
    env = {**os.environ, **to_env(settings)}
    stop = tmp_path / "stop-reading"
    reader = subprocess.Popen(
        java_reader("loop", str(settings.published_path), str(stop)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    pump = threading.Thread(target=lambda: [lines.put(line.strip()) for line in reader.stdout], daemon=True)
    pump.start()
    seen: list[str] = []

    def wait_for(wanted: str) -> None:
        """Read the reader's lines until one says it saw the snapshot `wanted` (an observable event)."""
        deadline = time.monotonic() + 300  # a guard against a hung reader, not a timing assumption
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert reader.poll() is None, f"reader exited: {reader.stderr.read()[-2000:]}"
                continue
            seen.append(line)
            if line.startswith(wanted):
                return
        raise AssertionError(f"the reader never saw {wanted!r}; last lines {seen[-5:]}")

    offset, landed = 0, 0
    expected = []
    try:
        for seed in (42, 43):
            offset, contacts = land(settings, seed, offset)
            landed += contacts
            expected.append(landed)
            done = subprocess.run(
                [sys.executable, "-m", "cxpulse.cli", "run"], env=env, capture_output=True, text=True, timeout=400
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            wait_for(f"snapshot offered={landed} ")
    finally:
        stop.touch()
        try:
            reader.wait(timeout=120)
        finally:
            reader.kill()
    pump.join(timeout=60)
    while not lines.empty():
        seen.append(lines.get())
    errors = [line for line in seen if line.startswith("error")]
    assert not errors, errors[:3]  # never a lock error, a missing table or a torn file
    snapshots = [dict(part.split("=") for part in line.split()[1:]) for line in seen if line.startswith("snapshot")]
    assert {int(s["offered"]) for s in snapshots} == set(expected)  # the first run's snapshot, then the second's
    assert all(s["offered"] == s["by_channel"] for s in snapshots), "a snapshot showed a run half done"
