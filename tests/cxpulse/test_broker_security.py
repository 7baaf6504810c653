"""Which settings the local broker can serve secured, and for which names its certificate is valid
(the secured broker itself runs in tests/integration/test_secured_broker.py)."""

from __future__ import annotations

import pytest

from cxpulse.broker_security import SecurityError, _subject_alt_names, is_secured
from cxpulse.config import Settings, load_settings

CREDENTIALS = {"CXPULSE_KAFKA_SASL_USERNAME": "cx", "CXPULSE_KAFKA_SASL_PASSWORD": "pw"}


def _settings(protocol: str, mechanism: str = "PLAIN") -> Settings:
    return load_settings(
        {"CXPULSE_KAFKA_SECURITY_PROTOCOL": protocol, "CXPULSE_KAFKA_SASL_MECHANISM": mechanism, **CREDENTIALS}
    )


def test_plaintext_or_sasl_ssl_with_scram_and_nothing_else() -> None:
    assert is_secured(_settings("PLAINTEXT")) is False
    assert is_secured(_settings("SASL_SSL", "SCRAM-SHA-512")) is True
    assert is_secured(_settings("SASL_SSL", "SCRAM-SHA-256")) is True
    for protocol, mechanism in (("SSL", "PLAIN"), ("SASL_SSL", "PLAIN"), ("SASL_PLAINTEXT", "SCRAM-SHA-512")):
        with pytest.raises(SecurityError) as refused:
            is_secured(_settings(protocol, mechanism))
        message = str(refused.value)
        assert "'kafka_security_protocol' PLAINTEXT, or SASL_SSL" in message
        assert "SCRAM-SHA-256, SCRAM-SHA-512" in message and f"got {protocol} with {mechanism}" in message


def test_the_certificate_names_localhost_loopback_and_the_bootstrap_host() -> None:
    assert _subject_alt_names("localhost") == "dns:localhost,ip:127.0.0.1"
    assert _subject_alt_names("kafka.internal") == "dns:kafka.internal,dns:localhost,ip:127.0.0.1"
    assert _subject_alt_names("10.0.0.7") == "dns:localhost,ip:10.0.0.7,ip:127.0.0.1"
