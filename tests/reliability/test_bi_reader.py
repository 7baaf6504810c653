"""A BI tool opening the published snapshot in a loop while real runs publish: always a complete snapshot.

`cxpulse run` (load -> transform -> checks -> publish) runs as a real process, three times, with new
landing files before each; a reader thread keeps opening published/cx.duckdb read-only. Every
snapshot it sees must open without a lock error and be complete: the marts agree with the raw
events of that same snapshot (contacts offered = contact events loaded), never a run half done.
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
from streams.sample import generate

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
                            "select (select sum(offered) from marts.kpi_service_daily "
                            "        where channel = 'all' and queue = 'all'), "
                            "(select count(*) from raw.touchpoints where event_type = 'contact')"
                        ).fetchall()[0]
                    )
                finally:
                    con.close()
            except BaseException as exc:  # a lock, a missing table, a torn file: all fail the test
                errors.append(exc)

    reader = threading.Thread(target=bi_reader, daemon=True)
    reader.start()
    offset, now = 0, datetime.now(UTC)
    try:
        for seed in (31, 32, 33):
            messages = generate(customers=300, seed=seed, with_malformed=False, duplicate_rate=0).touchpoints
            offsets = list(range(offset, offset + len(messages)))
            write_durably(
                events_table(
                    "touchpoints", [decode_touchpoint(m, now) for m in messages], messages, offsets, "cx.touchpoints", 0
                ),
                batch_path(settings.landing_dir, "cx.touchpoints", 0, offsets[0], offsets[-1]),
            )
            offset += len(messages)
            done = subprocess.run(
                [sys.executable, "-m", "cxpulse.cli", "run"], env=env, capture_output=True, text=True, timeout=300
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        stop.set()
        reader.join()
    assert not errors, errors[:3]
    assert len({contacts for _, contacts in seen}) == 3, "the reader saw each of the three snapshots"
    assert all(offered == contacts for offered, contacts in seen), "a snapshot showed a run half done"
