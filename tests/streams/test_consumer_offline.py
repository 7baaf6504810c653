"""The consumer facing a broker that is down: a clear log line, retries, and a clean stop."""

from __future__ import annotations

import dataclasses
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from cxpulse.config import Settings
from streams.consumer import LandingConsumer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_broker_down_is_logged_with_the_fix_and_retried(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path, kafka_bootstrap=f"localhost:{closed_port()}")
    consumer = LandingConsumer(settings)
    caplog.set_level(logging.WARNING, logger="streams.consumer")
    worker = threading.Thread(target=consumer._connect, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(r.name == "streams.consumer" for r in caplog.records) < 2:
        time.sleep(0.2)
    consumer.request_stop()
    worker.join(timeout=60)
    messages = [r.getMessage() for r in caplog.records if r.name == "streams.consumer"]
    assert len(messages) >= 2, "retried at least once"
    assert f"Kafka broker at {settings.kafka_bootstrap} is not reachable" in messages[0]
    assert "cxpulse broker start" in messages[0]
    assert "retrying in 1 s" in messages[0] and "retrying in 2 s" in messages[1]
    assert not worker.is_alive()
