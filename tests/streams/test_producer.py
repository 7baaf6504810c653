"""`cxpulse produce`: every line becomes one message, byte for byte; lines Kafka cannot take are reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer

from cxpulse.config import Settings
from streams.producer import message_key, produce_file

pytestmark = [pytest.mark.integration]


def test_key_is_the_customer_id_when_the_line_has_one() -> None:
    assert message_key(b'{"customer_id": "c-1", "x": 1}') == b"c-1"
    assert message_key(b'{"customer_id": 7}') is None
    assert message_key(b"not json") is None
    assert message_key(b"[" * 10_000 + b"]" * 10_000) is None  # deeper than msgspec's recursion limit


def test_oversized_lines_are_refused_by_number_and_the_rest_is_sent(kafka_settings: Settings, tmp_path: Path) -> None:
    big = b'{"customer_id": "c-2", "verbatim": "' + b"x" * 2_000_000 + b'"}'
    lines = [b'{"customer_id": "c-1", "n": 1}', b"", big, b"[" * 5_000 + b"]" * 5_000, b'{"n": 3}']
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = produce_file(path, kafka_settings.topic_touchpoints, kafka_settings)

    assert result.sent == 3
    assert [number for number, _ in result.refused] == [3]
    assert "2,000,0" in result.refused[0][1]
    consumer = KafkaConsumer(
        kafka_settings.topic_touchpoints,
        bootstrap_servers=kafka_settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5_000,
    )
    received = sorted((m.value for m in consumer), key=len)
    consumer.close()
    assert received == sorted([lines[0], lines[3], lines[4]], key=len)
