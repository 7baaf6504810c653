"""Publishes messages to the source topics: JSON-lines files line by line, or the simulator's output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError

from cxpulse.config import Settings
from streams.kafka_clients import kafka_client


class _Keyed(msgspec.Struct):
    customer_id: str | None = None


_key_decoder = msgspec.json.Decoder(_Keyed)


def message_key(line: bytes) -> bytes | None:
    """customer_id when the line is a JSON object that has one (keeps a customer's events ordered)."""
    try:
        key = _key_decoder.decode(line).customer_id
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    return key.encode() if isinstance(key, str) else None


def make_producer(settings: Settings) -> KafkaProducer:
    """A producer tuned for bulk sends: acks from every replica, large batches."""
    return kafka_client(
        KafkaProducer,
        settings,
        "cxpulse-producer",
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        bootstrap_timeout_ms=5_000,  # no broker: say so in seconds, not after the 30 s default
    )


@dataclass
class ProduceResult:
    sent: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)


def produce_file(
    path: Path, topic: str, settings: Settings, *, progress: Callable[[int], None] | None = None
) -> ProduceResult:
    """Send every line of `path` (blank lines skipped, bytes untouched).

    A line Kafka cannot take (larger than the 1 MB message limit) is refused and reported with its
    line number; the other lines are still sent. A send that fails after it was accepted (broker
    gone for longer than the delivery timeout) raises once everything else is flushed.
    """
    producer = make_producer(settings)
    result = ProduceResult()
    failures: list[Exception] = []
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                line = raw.rstrip(b"\r\n")
                if not line.strip():
                    continue
                try:
                    producer.send(topic, value=line, key=message_key(line)).add_errback(failures.append)
                except MessageSizeTooLargeError as exc:
                    result.refused.append((number, f"{len(line):,} bytes: {exc}"))
                    continue
                result.sent += 1
                if progress is not None and result.sent % 1000 == 0:
                    progress(1000)
        producer.flush()
    finally:
        producer.close()
    if progress is not None:
        progress(result.sent % 1000)
    if failures:
        raise RuntimeError(f"{len(failures)} messages were not delivered; first error: {failures[0]!r}")
    return result


class KafkaSink:
    """Sends simulated messages to the source topics; `close()` flushes and raises if any send failed."""

    def __init__(self, settings: Settings) -> None:
        self._producer = make_producer(settings)
        self._topics = {"touchpoints": settings.topic_touchpoints, "surveys": settings.topic_surveys}
        self.failures: list[Exception] = []

    def __call__(self, kind: str, value: bytes, key: bytes | None) -> None:
        self._producer.send(self._topics[kind], value=value, key=key).add_errback(self.failures.append)

    def close(self) -> None:
        try:
            self._producer.flush()
        finally:
            self._producer.close()
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} messages were not delivered; first error: {self.failures[0]!r}")

    def __enter__(self) -> KafkaSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
