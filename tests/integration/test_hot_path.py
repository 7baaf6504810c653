"""Hot path against the real broker: a detractor answer becomes a cx.alerts message within seconds."""

from __future__ import annotations

import json
import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

from cxpulse.config import Settings
from streams.consumer import LandingConsumer

pytestmark = pytest.mark.integration


def survey(response_id: str, nps: int, case_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "response_id": response_id,
            "occurred_at": "2026-03-02T10:00:00+01:00",
            "customer_id": "cust-42",
            "channel": "chat",
            "touchpoint": "web_chat",
            "survey": "post_contact",
            "nps": nps,
            "case_id": case_id,
            "verbatim": "Personne ne me rappelle <b>jamais</b>",
        }
    ).encode()


def test_detractor_alerts_arrive_within_seconds(kafka_settings: Settings) -> None:
    settings = kafka_settings
    consumer = LandingConsumer(settings)
    worker = threading.Thread(target=consumer.run, daemon=True)  # until request_stop
    worker.start()
    alerts = KafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        auto_offset_reset="earliest",  # the topic is this test's own: every alert on it is ours
        consumer_timeout_ms=500,
    )
    deadline = time.monotonic() + 60
    while not consumer.assigned:  # the landing consumer has joined its group and holds its partitions
        assert time.monotonic() < deadline, "the consumer never got its partitions"
        time.sleep(0.05)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    complaint = {
        "event_id": "c1",
        "event_type": "case_opened",
        "occurred_at": "2026-03-01T09:00:00Z",
        "customer_id": "cust-42",
        "channel": "email",
        "touchpoint": "form",
        "case_id": "K-9",
        "reason": "billing",
        "is_complaint": True,
        "category": "billing_error",
    }
    producer.send(settings.topic_touchpoints, json.dumps(complaint).encode(), key=b"cust-42").get(timeout=10)
    # The surveys must come after the complaint was seen (another topic, no order between them): its
    # landing file is the proof.
    landing = settings.landing_dir / settings.topic_touchpoints
    deadline = time.monotonic() + 120
    while not any(landing.rglob("*.parquet")):
        assert time.monotonic() < deadline, "the complaint never landed"
        time.sleep(0.05)
    sent_at = time.monotonic()
    producer.send(settings.topic_surveys, survey("r-low", 1), key=b"cust-42")
    producer.send(settings.topic_surveys, survey("r-complaint", 5, "K-9"), key=b"cust-42")
    producer.send(settings.topic_surveys, survey("r-fine", 5), key=b"cust-42")  # no alert: 5, no complaint
    producer.flush()
    received = {}
    while time.monotonic() - sent_at < 10 and len(received) < 2:
        for batch in alerts.poll(timeout_ms=200).values():
            for message in batch:
                alert = json.loads(message.value)
                received[alert["response_id"]] = (alert, time.monotonic() - sent_at)
    consumer.request_stop()
    worker.join(timeout=30)
    producer.close()
    alerts.close()
    assert set(received) == {"r-low", "r-complaint"}
    low, latency = received["r-low"]
    assert latency < 10
    assert low["rule"] == "detractor_complaint" and low["severity"] == "warning" and low["customer_id"] == "cust-42"
    assert "verbatim" not in low  # only when alert_include_verbatim is set
    linked, _ = received["r-complaint"]
    assert linked["severity"] == "critical" and "K-9" in linked["message"] and "réclamation K-9" in linked["message_fr"]
