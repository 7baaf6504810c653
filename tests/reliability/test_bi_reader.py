"""A BI tool opening the published snapshot in a loop while real runs publish: always a complete snapshot.

`cxpulse run` (load -> transform -> checks -> publish) runs as a real process, three times, with new
landing files before each; a reader thread keeps opening published/cx.duckdb read-only. Every
snapshot it sees must open without a lock error and be complete: contacts offered are exactly the
contact events landed before one of the runs, and the channel rows add up to the 'all' row of that
same snapshot, never a run half done. The snapshot holds the marts only (no raw table to compare with).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings, to_env
from streams.contracts import decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from tests.sample import generate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_bi_reader_always_sees_a_complete_snapshot_while_runs_publish(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap="localhost:1")
    env = {**os.environ, **to_env(settings)}
    seen: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def bi_reader() -> None:
        while not stop.is_set():
            if not settings.published_path.exists():
                stop.wait(0.05)
                continue
            try:
                con = duckdb.connect(str(settings.published_path), read_only=True)
                try:
                    seen.append(
                        con.execute(
                            "select sum(offered) filter (where channel = 'all' and queue = 'all'), "
                            "sum(offered) filter (where channel <> 'all' and queue = 'all') "
                            "from marts.kpi_service_daily"
                        ).fetchall()[0]
                    )
                finally:
                    con.close()
            except BaseException as exc:  # a lock, a missing table, a torn file: all fail the test
                errors.append(exc)

    reader = threading.Thread(target=bi_reader, daemon=True)
    reader.start()
    offset, now = 0, datetime.now(UTC)
    contacts_landed: list[int] = []
    try:
        for seed in (31, 32, 33):
            messages = generate(customers=300, seed=seed, with_malformed=False, duplicate_rate=0).touchpoints
            offsets = list(range(offset, offset + len(messages)))
            events = [decode_touchpoint(m, now) for m in messages]
            write_durably(
                events_table("touchpoints", events, messages, offsets, "cx.touchpoints", 0),
                batch_path(settings.landing_dir, "cx.touchpoints", 0, offsets[0], offsets[-1]),
            )
            contacts = sum(type(e).__struct_config__.tag == "contact" for e in events)
            contacts_landed.append(contacts + (contacts_landed[-1] if contacts_landed else 0))
            offset += len(messages)
            done = subprocess.run(
                [sys.executable, "-m", "cxpulse.cli", "run"], env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        stop.set()
        reader.join()
    assert not errors, errors[:3]
    assert {offered for offered, _ in seen} == set(contacts_landed), "the reader saw each of the three snapshots"
    assert all(offered == by_channel for offered, by_channel in seen), "a snapshot showed a run half done"
