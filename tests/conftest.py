"""Shared fixtures. Integration tests get a real Kafka broker: the one at KAFKA_BOOTSTRAP when set,
otherwise a broker started for the session on a free port (the same code as `cxpulse broker start`)."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cxpulse.config import Settings


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

    suffix = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        Settings(),
        home=tmp_path / "home",
        kafka_bootstrap=kafka_bootstrap,
        topic_touchpoints=f"cx.touchpoints.{suffix}",
        topic_surveys=f"cx.surveys.{suffix}",
        topic_deadletter=f"cx.deadletter.{suffix}",
        topic_alerts=f"cx.alerts.{suffix}",
        consumer_group=f"cxpulse-{suffix}",
    )
    ensure_topics(kafka_bootstrap, settings)
    return settings
