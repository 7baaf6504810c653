"""The data home on a size-capped tmpfs filled by a ballast file: a real ENOSPC. The consumer stalls
(no crash, no crash loop, no commit past what is durable, a log line that says which path and what to
do), stays in its group, and resumes by itself when the ballast is deleted; a SIGTERM during the
stall exits 0 without losing anything."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from kafka import KafkaAdminClient

from cxpulse.broker import free_port
from cxpulse.config import Settings
from tests.reliability.support import (
    Produced,
    all_landed,
    assert_warehouse_exact,
    audit,
    committed_offsets,
    end_offsets,
    landed,
    make_stream,
    produce,
    scrape,
    start_consumer,
    stop_consumer,
    value,
    wait_until,
)

pytestmark = pytest.mark.integration

CAPACITY = 64 * 1024 * 1024
LEFT_FREE = 48 * 1024  # room for a few small files, not for a batch: writes fail midway


@contextlib.contextmanager
def size_capped_filesystem(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of `size` bytes mounted on `path` (needs root, i.e. CAP_SYS_ADMIN), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-capped tmpfs needs root (CAP_SYS_ADMIN)")
    path.mkdir(parents=True, exist_ok=False)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "cxpulse-diskfull", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(root: Path, leave: int) -> Path:
    """A ballast file taking all the free space of the filesystem of `root` but `leave` bytes."""
    st = os.statvfs(root)
    ballast = root / "ballast.bin"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.posix_fallocate(fd, 0, max(st.f_bavail * st.f_frsize - leave, 1))
    finally:
        os.close(fd)
    return ballast


def assert_nothing_committed_past_the_files(settings: Settings) -> None:
    for tp, offset in committed_offsets(settings).items():
        if tp.topic in settings.source_topics:
            assert offset <= landed(settings, tp), f"{tp}: committed {offset}, landed only up to {landed(settings, tp)}"


def in_group(settings: Settings) -> bool:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        group = admin.describe_groups([settings.consumer_group]).get(settings.consumer_group, {})
        return group.get("group_state") == "Stable" and len(group.get("members") or []) == 1
    finally:
        admin.close()


@pytest.mark.timeout(240)
def test_full_landing_disk_stalls_the_consumer_and_it_resumes_when_space_returns(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = dataclasses.replace(kafka_settings, batch_max_messages=5_000, batch_max_seconds=0.5)
    log = tmp_path / "consumer.log"
    with size_capped_filesystem(settings.home, CAPACITY):
        ballast = fill(settings.home, LEFT_FREE)
        first, produced = make_stream(settings, 30_000, "full", malformed_every=100)
        produce(settings, first)
        port = free_port()
        proc = start_consumer(settings, log, "--metrics-port", str(port))
        try:
            wait_until(lambda: "landing disk full" in log.read_text(), 60, "the consumer reports the full disk")
            assert value(scrape(port), "cxpulse_consumer_landing_stalled") == 1
            assert not all_landed(settings, end_offsets(settings))
            cpu_before = sum(psutil.Process(proc.pid).cpu_times()[:2])
            stalled_at = time.monotonic()
            # Three retries while the disk stays full (after 1, 2 and 4 s of backoff): waited for in the log.
            wait_until(lambda: log.read_text().count("landing disk still full") >= 3, 90, "three retries")
            stalled_s = time.monotonic() - stalled_at
            cpu_stalled = sum(psutil.Process(proc.pid).cpu_times()[:2]) - cpu_before
            assert cpu_stalled < 0.3 * stalled_s, (
                f"a stalled consumer should idle, it used {cpu_stalled:.1f} s of CPU in {stalled_s:.1f} s"
            )
            text = log.read_text()
            assert proc.poll() is None, f"the consumer died on a full disk:\n{text}"
            line = next(x for x in text.splitlines() if "landing disk full" in x)
            assert str(settings.home) in line and "No space left on device" in line
            assert "df -h" in line and "cxpulse load" in line and "resumes by itself" in line
            # retried with a doubling backoff, not in a tight loop (waits on the consumer's clock, logged as %.0f s)
            retries = [x for x in text.splitlines() if "landing disk still full" in x]
            assert [float(x.split("retrying in ")[1].split()[0]) for x in retries[:3]] == [2, 4, 8], retries
            waited = [float(x.split("still full after ")[1].split()[0]) for x in retries[:3]]
            assert waited[0] >= 1 and waited[1] >= waited[0] + 1 and waited[2] >= waited[1] + 3, retries
            assert "Traceback" not in text
            assert not [p for p in settings.home.rglob(".*.tmp")], "no partial file left taking space"
            assert_nothing_committed_past_the_files(settings)
            assert in_group(settings), "the stalled consumer still heartbeats: its partitions stay with it"

            ballast.unlink()
            ends = end_offsets(settings)
            wait_until(lambda: all_landed(settings, ends), 60, "everything lands once space is back")
            wait_until(lambda: "landing stall over" in log.read_text(), 10, "the recovery is logged")
            assert value(scrape(port), "cxpulse_consumer_landing_stalled") == 0
            assert proc.poll() is None
            assert_nothing_committed_past_the_files(settings)

            # Second stall, then SIGTERM in the middle of it: exit 0, nothing committed that is not durable.
            ballast = fill(settings.home, LEFT_FREE)
            second, more = make_stream(settings, 20_000, "full2", malformed_every=100)
            produce(settings, second)
            wait_until(lambda: log.read_text().count("landing disk full") == 2, 60, "the second stall")
            assert stop_consumer(proc, timeout=15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "none of them was committed, the next start reads them again" in log.read_text()
        assert_nothing_committed_past_the_files(settings)
        assert not all_landed(settings, end_offsets(settings))

        ballast.unlink()
        restarted = start_consumer(dataclasses.replace(settings, idle_exit_seconds=3), log, "--until-idle")
        assert restarted.wait(timeout=90) == 0, log.read_text()[-3000:]
        everything = merge(produced, more)
        audit(settings, everything)
        assert_warehouse_exact(settings, everything)
        ends = end_offsets(settings)
        assert {tp: o for tp, o in committed_offsets(settings).items() if tp in ends} == ends


def merge(a: Produced, b: Produced) -> Produced:
    out = Produced()
    for src in (a, b):
        for topic, counts in src.valid.items():
            out.valid.setdefault(topic, counts.__class__()).update(counts)
        for topic, counts in src.malformed.items():
            out.malformed.setdefault(topic, counts.__class__()).update(counts)
        for topic, ids in src.ids.items():
            out.ids.setdefault(topic, set()).update(ids)
    return out
