"""The client factory's log redaction, as pure logic (the secured-broker test greps real DEBUG logs)."""

from __future__ import annotations

import logging

import pytest

from streams.kafka_clients import redact_kafka_logs


def test_a_secret_is_starred_in_kafka_records_whatever_its_shape(caplog: pytest.LogCaptureFixture) -> None:
    secret = "pâss-wörd"  # non-ASCII: bytes reprs show it escaped
    redact_kafka_logs(secret)
    logger = logging.getLogger("kafka.net.connection")  # one of kafka-python's own loggers
    caplog.set_level(logging.DEBUG, logger="kafka")
    logger.debug("config: %s", {"sasl_plain_password": secret})
    logger.debug("Request 3: SaslAuthenticateRequest(auth_bytes=%r)", b"\0cx\0" + secret.encode())
    logger.debug("nothing secret here: %s", 42)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "config: {'sasl_plain_password': '***'}",
        "Request 3: SaslAuthenticateRequest(auth_bytes=b'\\x00cx\\x00***')",
        "nothing secret here: 42",
    ]
