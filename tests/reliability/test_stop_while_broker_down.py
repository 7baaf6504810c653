"""A consumer that cannot reach its broker stops within 3 s of SIGTERM, exit code 0, whether the signal
falls inside a client's bootstrap (up to 5 s of blocking in kafka-python) or inside the retry backoff."""

from __future__ import annotations

import dataclasses
import signal
import socket
import time
from pathlib import Path

import pytest

from cxpulse.config import Settings
from tests.reliability.support import start_consumer, wait_until

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(90)
@pytest.mark.parametrize(
    ("moment", "warnings_before", "delay"),
    [
        # 1 s into the first bootstrap: before the fix, the signal waited for the 5 s bootstrap to end.
        ("in the first bootstrap", 0, 1.0),
        # Right after "retrying in 4 s": before the fix, time.sleep(4) ran to its end.
        ("in a 4 s backoff", 3, 0.2),
    ],
)
def test_sigterm_stops_a_consumer_facing_a_dead_broker_within_3_s(
    tmp_path: Path, moment: str, warnings_before: int, delay: float
) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path / "home", kafka_bootstrap=f"localhost:{closed_port()}")
    log = tmp_path / "consumer.log"
    proc = start_consumer(settings, log)
    try:
        # The first line is logged once the signal handlers are installed.
        wait_until(lambda: "consuming" in log.read_text(), 30, "the consumer starts")
        wait_until(
            lambda: log.read_text().count("is not reachable") >= warnings_before,
            60,
            f"{warnings_before} connection warnings",
        )
        time.sleep(delay)
        assert proc.poll() is None, f"the consumer exited on its own:\n{log.read_text()}"
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stopped_in = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert code == 0, text
    assert stopped_in <= 3.0, f"{moment}: stopped {stopped_in:.1f} s after SIGTERM\n{text}"
    assert text.count("is not reachable") == warnings_before, "no further retry after the signal"
    assert "Traceback" not in text
