"""The local broker of `cxpulse broker start|stop|status`, for real."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from kafka.consumer import KafkaConsumer
from kafka.producer import KafkaProducer
from kafka.structs import TopicPartition

from cxpulse.broker import BrokerError, broker_status, free_port, kafka_classpath, start_broker, stop_broker
from cxpulse.config import Settings

pytestmark = pytest.mark.integration


def _read(bootstrap: str, topic: str, partitions: int, expected: int) -> list[tuple[bytes | None, bytes]]:
    """Read a topic from the beginning until `expected` messages arrived (or 30 s went by)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    got: list[tuple[bytes | None, bytes]] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        deadline = time.monotonic() + 30
        while len(got) < expected and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.extend((r.key, r.value) for r in records)
    finally:
        consumer.close()
    return sorted(got)


def test_status_reports_running_broker_and_topics(kafka_settings: Settings) -> None:
    status = broker_status(kafka_settings)
    assert status["running"] is True
    assert status["bootstrap"] == kafka_settings.kafka_bootstrap
    assert status["pid"] is None  # this data home did not start the session broker
    topics = status["topics"] or {}
    assert {
        t: topics.get(t)
        for t in (
            kafka_settings.topic_touchpoints,
            kafka_settings.topic_surveys,
            kafka_settings.topic_deadletter,
            kafka_settings.topic_alerts,
        )
    } == {
        kafka_settings.topic_touchpoints: 3,
        kafka_settings.topic_surveys: 3,
        kafka_settings.topic_deadletter: 1,
        kafka_settings.topic_alerts: 1,
    }
    if not os.environ.get("KAFKA_BOOTSTRAP"):  # the session broker was made by start_broker
        assert {t: topics.get(t) for t in ("cx.touchpoints", "cx.surveys", "cx.deadletter", "cx.alerts")} == {
            "cx.touchpoints": 3,
            "cx.surveys": 3,
            "cx.deadletter": 1,
            "cx.alerts": 1,
        }


def test_produce_consume_round_trip(kafka_settings: Settings) -> None:
    sent = [(f"customer-{i}".encode(), f'{{"n": {i}}}'.encode()) for i in range(30)]
    producer = KafkaProducer(bootstrap_servers=kafka_settings.kafka_bootstrap, acks="all")
    try:
        for key, value in sent:
            producer.send(kafka_settings.topic_touchpoints, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close()
    received = _read(kafka_settings.kafka_bootstrap, kafka_settings.topic_touchpoints, 3, len(sent))
    assert received == sorted(sent)


def test_start_is_idempotent_and_a_restart_keeps_the_data(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", kafka_bootstrap=f"localhost:{free_port()}")
    assert stop_broker(settings) is False  # nothing started yet
    info = start_broker(settings)
    try:
        status = broker_status(settings)
        assert status["running"] and status["pid"] == info.pid
        assert status["topics"] == {"cx.touchpoints": 3, "cx.surveys": 3, "cx.deadletter": 1, "cx.alerts": 1}
        assert start_broker(settings).pid == info.pid  # idempotent
        meta = settings.kafka_dir / "data" / "meta.properties"
        formatted = meta.read_text()
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        producer.send(settings.topic_alerts, key=b"k", value=b"kept across restarts").get(timeout=30)
        producer.close()

        assert stop_broker(settings) is True
        down = {"running": False, "pid": None, "bootstrap": settings.kafka_bootstrap, "topics": None}
        assert broker_status(settings) == down
        assert not (settings.kafka_dir / "broker.pid").exists()

        restarted = start_broker(settings)  # same store: no new format, same controller endpoint
        assert restarted.pid != info.pid
        assert restarted.controller == info.controller
        assert broker_status(settings)["pid"] == restarted.pid
        kept = _read(settings.kafka_bootstrap, settings.topic_alerts, 1, 1)
        assert kept == [(b"k", b"kept across restarts")]
        assert meta.read_text() == formatted  # the store was not formatted again
    finally:
        stopped = stop_broker(settings)
    assert stopped is True
    assert stop_broker(settings) is False


def test_start_refuses_an_address_taken_by_another_program(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(home=tmp_path / "home", kafka_bootstrap=f"localhost:{port}")
        with pytest.raises(BrokerError, match="already listens on"):
            start_broker(settings)
    assert stop_broker(settings) is False


def test_missing_jars_say_to_run_make_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPULSE_KAFKA_LIBS", str(tmp_path))
    with pytest.raises(BrokerError, match="make setup"):
        kafka_classpath()


def test_free_port_never_returns_a_port_of_the_brokers_other_listeners(monkeypatch) -> None:
    """A stopped broker's controller port is free, so the OS may hand it out again for the internal
    listener of a secured restart; Kafka then refuses two listeners on one port (seen in CI)."""
    import cxpulse.broker_setup as setup

    handed_out = iter([40061, 40061, 40062])

    class FakeSocket:
        def __init__(self) -> None:
            self.port = next(handed_out)

        def __enter__(self):
            return self

        def __exit__(self, *exc) -> None:
            return None

        def bind(self, address) -> None:
            return None

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(setup.socket, "socket", FakeSocket)
    assert setup.free_port("127.0.0.1", avoid=frozenset({40061, 50909})) == 40062
