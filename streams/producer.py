"""Publishes a JSON-lines file to a topic, one message per line, keyed by customer_id."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
from kafka import KafkaProducer

from cxpulse.config import Settings, kafka_client_options


class _Keyed(msgspec.Struct):
    customer_id: str | None = None


_key_decoder = msgspec.json.Decoder(_Keyed)


def message_key(line: bytes) -> bytes | None:
    """customer_id when the line is a JSON object that has one (keeps a customer's events ordered)."""
    try:
        key = _key_decoder.decode(line).customer_id
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return key.encode() if isinstance(key, str) else None


def make_producer(settings: Settings) -> KafkaProducer:
    """A producer tuned for bulk sends: acks from every replica, large batches."""
    return KafkaProducer(
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        **kafka_client_options(settings, "cxpulse-producer"),
    )


def produce_file(path: Path, topic: str, settings: Settings, *, progress: Callable[[int], None] | None = None) -> int:
    """Send every line of `path` (blank lines skipped, bytes untouched); returns the count sent."""
    producer = make_producer(settings)
    sent = 0
    try:
        with path.open("rb") as fh:
            for raw in fh:
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                producer.send(topic, value=line, key=message_key(line))
                sent += 1
                if progress is not None and sent % 1000 == 0:
                    progress(1000)
        producer.flush()
    finally:
        producer.close()
    if progress is not None:
        progress(sent % 1000)
    return sent
