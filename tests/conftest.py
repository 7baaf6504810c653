"""Shared fixtures. Integration tests get a real Kafka broker: the one at KAFKA_BOOTSTRAP when set,
otherwise a broker started for the session on a free port (the same code as `cxpulse broker start`).
Tests without a broker get `settings` on a fresh data home and `land`, which writes landing files
as the consumer does."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxpulse.config import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings on a fresh data home (no broker: tests that need one use kafka_settings)."""
    return dataclasses.replace(Settings(), home=tmp_path)


def land_messages(
    settings: Settings,
    kind: str,
    messages: list[bytes],
    first: int = 0,
    *,
    last: int | None = None,
    partition: int = 0,
) -> Path:
    """One landing file of `messages` (offsets first, first + 1, ...) for the topic of `kind`
    ("touchpoints" or "surveys"), decoded and written as the consumer does. `last` widens the file's
    offset range past the last message (a batch whose last offset went to the quarantine)."""
    from streams.contracts import decode_survey, decode_touchpoint
    from streams.landing import batch_path, events_table, write_durably

    topic, decode = {
        "touchpoints": (settings.topic_touchpoints, decode_touchpoint),
        "surveys": (settings.topic_surveys, decode_survey),
    }[kind]
    now = datetime.now(UTC)
    offsets = list(range(first, first + len(messages)))
    path = batch_path(settings.landing_dir, topic, partition, first, offsets[-1] if last is None else last)
    write_durably(events_table(kind, [decode(m, now) for m in messages], messages, offsets, topic, partition), path)
    return path


@pytest.fixture
def land() -> Callable[..., Path]:
    """`land(settings, kind, messages, first=0, *, last=None, partition=0)`: see land_messages."""
    return land_messages


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """host:port of a Kafka broker holding the default cxpulse topics, for the whole session."""
    from cxpulse.broker import ensure_topics, free_port, start_broker, stop_broker

    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        ensure_topics(external, dataclasses.replace(Settings(), kafka_bootstrap=external))
        yield external
        return
    settings = Settings(home=tmp_path_factory.mktemp("broker"), kafka_bootstrap=f"localhost:{free_port()}")
    start_broker(settings)  # also creates the four default topics
    try:
        yield settings.kafka_bootstrap
    finally:
        stop_broker(settings)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings on the session broker with a fresh data home and topics of its own (tests stay apart)."""
    from cxpulse.broker import ensure_topics

    settings = settings_apart(kafka_bootstrap, tmp_path / "home")
    ensure_topics(kafka_bootstrap, settings)
    return settings


def settings_apart(kafka_bootstrap: str, home: Path) -> Settings:
    """Settings on the broker at `kafka_bootstrap` with `home` and topic names and a group of their own
    (the topics are not created)."""
    suffix = uuid.uuid4().hex[:8]
    return dataclasses.replace(
        Settings(),
        home=home,
        kafka_bootstrap=kafka_bootstrap,
        topic_touchpoints=f"cx.touchpoints.{suffix}",
        topic_surveys=f"cx.surveys.{suffix}",
        topic_deadletter=f"cx.deadletter.{suffix}",
        topic_alerts=f"cx.alerts.{suffix}",
        consumer_group=f"cxpulse-{suffix}",
    )
