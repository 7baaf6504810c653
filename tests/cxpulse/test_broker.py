"""The local broker of `cxpulse broker start|stop|status`, for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxpulse.broker import broker_status, free_port, start_broker, stop_broker
from cxpulse.config import Settings
from kafka import KafkaConsumer, KafkaProducer

pytestmark = pytest.mark.integration


def test_start_creates_topics_survives_restart_and_stops_only_its_own(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_bootstrap=f"localhost:{free_port()}")
    info = start_broker(settings)
    try:
        status = broker_status(settings)
        assert status["running"] and status["pid"] == info.pid
        assert status["topics"] == {"cx.touchpoints": 3, "cx.surveys": 3, "cx.deadletter": 1, "cx.alerts": 1}
        assert start_broker(settings).pid == info.pid  # idempotent
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        producer.send("cx.alerts", b"kept across restarts").get(timeout=30)
        producer.close()
        assert stop_broker(settings) is True
        assert broker_status(settings)["running"] is False

        restarted = start_broker(settings)
        assert restarted.pid != info.pid
        consumer = KafkaConsumer(
            "cx.alerts",
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            consumer_timeout_ms=10_000,
        )
        assert [m.value for m in consumer] == [b"kept across restarts"]
        consumer.close()
    finally:
        stop_broker(settings)
    assert stop_broker(settings) is False
