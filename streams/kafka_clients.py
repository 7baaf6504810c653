"""The one factory for Kafka clients: every consumer, producer and admin client of cxpulse (the broker
manager included) gets its connection and security options from the settings here, cleans up after
itself when it cannot connect, and says why a broker that answers refused it."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from typing import Any, TypeVar

from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.net.compat import KafkaNetClient
from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest

from cxpulse.config import Settings, kafka_client_options

C = TypeVar("C")
PROBE_TIMEOUT_S = 3.0


class KafkaAccessError(KafkaError):
    """A broker answers on the bootstrap address but refuses this client (credentials, certificate, protocol).

    Not retriable: retrying with the same settings fails the same way. The message names the settings to fix.
    """


class _RedactSecrets(logging.Filter):
    """Replaces known secrets by *** in every record of kafka-python's loggers.

    kafka-python logs at DEBUG the configuration of its admin client and every request it sends (a SASL
    PLAIN login carries the password itself). `Redacted` already hides the password in a repr(); this
    also catches it in any other shape (its bytes escaped, inside a request), whatever the handler."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        self.secrets.update({secret, repr(secret.encode())[2:-1]})

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: the handler reports it, as without this filter
                return True
            if any(secret in message for secret in self.secrets):
                for secret in sorted(self.secrets, key=len, reverse=True):
                    message = message.replace(secret, "***")
                record.msg, record.args = message, None
        return True


_REDACT = _RedactSecrets()


def redact_kafka_logs(secret: str | None) -> None:
    """Keep `secret` out of kafka-python's log records (a logger filter on each `kafka.*` logger)."""
    if not secret:
        return
    _REDACT.add(secret)
    # A filter on a logger sees the records made on that logger only, so it goes on every kafka.* logger
    # (kafka-python makes one per module, all on import; new ones are covered at the next client).
    names = [n for n in logging.root.manager.loggerDict if n == "kafka" or n.startswith("kafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


def open_client(cls: type, **config: Any) -> Any:
    """Construct a kafka-python client; when construction fails (or is interrupted), stop what it started.

    kafka-python 3.0's KafkaConsumer starts its IO thread before it bootstraps and leaves it running
    when bootstrapping fails: without this, every retry against a dead broker leaked a thread.
    """
    client = cls.__new__(cls)
    try:
        client.__init__(**config)
    except BaseException:
        net, inner = getattr(client, "_net", None), getattr(client, "_client", None)
        with contextlib.suppress(Exception):
            if net is not None:
                net.stop(1_000)
        with contextlib.suppress(Exception):
            if inner is not None:
                inner.close()
        raise
    return client


class _NetClients:
    """The `kafka_client` option of kafka-python clients: builds the network client and keeps it, so that
    the network client of a half-built client (a producer keeps none on itself) is closed too."""

    def __init__(self) -> None:
        self.made: list[KafkaNetClient] = []

    def __call__(self, **configs: Any) -> KafkaNetClient:
        client = KafkaNetClient(**configs)
        self.made.append(client)
        return client

    def close(self) -> None:
        for client in self.made:
            with contextlib.suppress(Exception):
                client.close()


class _Refused(Exception):
    """A probe got an answer that explains the refusal."""


def _first_server(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host, int(port)


def _open(settings: Settings) -> socket.socket:
    """A socket to the first bootstrap server, wrapped in TLS when the protocol says so.

    Raises _Refused when the TLS handshake says why it fails, OSError when nothing answers."""
    host, port = _first_server(settings.kafka_bootstrap)
    raw = socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S)
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return raw
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    try:
        return context.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        trusted = settings.kafka_ssl_cafile or "the system's certificate authorities"
        raise _Refused(
            f"the TLS certificate of Kafka at {settings.kafka_bootstrap} is not trusted "
            f"({exc.verify_message or exc}; trusted: {trusted}): set the config key 'kafka_ssl_cafile' "
            "(CXPULSE_KAFKA_SSL_CAFILE) to the PEM file of the CA that signed it"
        ) from None
    except (ssl.SSLError, ConnectionError, TimeoutError):
        raw.close()
        raise _Refused(
            f"Kafka at {settings.kafka_bootstrap} does not speak TLS, and the config key 'kafka_security_protocol' "
            f"is {settings.kafka_security_protocol}: use the protocol of that listener (PLAINTEXT or "
            "SASL_PLAINTEXT), or the address of its TLS listener"
        ) from None


def _speaks_tls(settings: Settings) -> bool:
    """Whether the first bootstrap server completes a TLS handshake (nothing else is sent)."""
    host, port = _first_server(settings.kafka_bootstrap)
    context = ssl._create_unverified_context()  # the question is only "is this TLS?"
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S) as raw:
            with context.wrap_socket(raw, server_hostname=host):
                return True
    except OSError:
        return False


def _sasl_login(sock: socket.socket, settings: Settings) -> None:
    """One SASL login as kafka-python does it (SaslHandshake v1, then SaslAuthenticate v1), blocking.

    kafka-python's own clients only see the broker hang up after a refused login, and retry until the
    bootstrap timeout; the broker's SaslAuthenticate answer says why, and this reads it."""
    parser = KafkaProtocol(client_id="cxpulse-probe")

    def call(request: Any) -> Any:
        parser.send_request(request)
        sock.sendall(parser.send_bytes())
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the broker closed the connection")
            for _correlation_id, response in parser.receive_bytes(data):
                return response

    handshake = SaslHandshakeRequest(mechanism=settings.kafka_sasl_mechanism, max_version=1)
    handshake.API_VERSION = 1
    response = call(handshake)
    if response.error_code:
        raise _Refused(
            f"Kafka at {settings.kafka_bootstrap} does not accept the config key 'kafka_sasl_mechanism' = "
            f"{settings.kafka_sasl_mechanism}; it accepts: {', '.join(response.mechanisms) or 'none'}"
        )
    host, _ = _first_server(settings.kafka_bootstrap)
    options = kafka_client_options(settings, "cxpulse-probe")
    mechanism = get_sasl_mechanism(settings.kafka_sasl_mechanism)(host=host, **options)
    while not mechanism.is_done():
        request = SaslAuthenticateRequest(mechanism.auth_bytes())
        request.API_VERSION = 1
        response = call(request)
        if response.error_code:
            raise _Refused(
                f"Kafka at {settings.kafka_bootstrap} refused the login of user {settings.kafka_sasl_username!r} "
                f"({response.error_message}): check CXPULSE_KAFKA_SASL_USERNAME, CXPULSE_KAFKA_SASL_PASSWORD "
                "and the config key 'kafka_sasl_mechanism'"
            )
        mechanism.receive(response.auth_bytes)


def access_error(settings: Settings) -> KafkaAccessError | None:
    """Why the broker on settings.kafka_bootstrap refuses this client, when it does (None: it does not, or
    nothing answers there). Asked after a failed bootstrap, whose own error says only "Unable to bootstrap"."""
    try:
        if settings.kafka_security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and _speaks_tls(settings):
            raise _Refused(
                f"Kafka at {settings.kafka_bootstrap} expects TLS, and the config key 'kafka_security_protocol' "
                f"is {settings.kafka_security_protocol}: use SSL or SASL_SSL"
            )
        with _open(settings) as sock:
            if settings.kafka_security_protocol.startswith("SASL_"):
                _sasl_login(sock, settings)
    except _Refused as refused:
        return KafkaAccessError(str(refused))
    except Exception:  # nothing answers, or an answer that explains nothing: an outage, not a refusal
        return None
    return None


def kafka_client(cls: type[C], settings: Settings, client_id: str, **config: Any) -> C:
    """A `cls` (KafkaConsumer, KafkaProducer, KafkaAdminClient) connected as `settings` say.

    Bootstrap address, security protocol, CA file and SASL credentials come from
    `kafka_client_options` only; `config` adds the client's own tuning (acks, group, timeouts).
    When the bootstrap fails because the broker refuses us (wrong password, untrusted certificate, TLS
    against a plaintext listener or the reverse), raises KafkaAccessError saying which setting to fix;
    when nothing answers, kafka-python's KafkaTimeoutError as before.
    """
    redact_kafka_logs(settings.kafka_sasl_password)
    net = _NetClients()
    try:
        return open_client(cls, **kafka_client_options(settings, client_id), kafka_client=net, **config)
    except KafkaTimeoutError as exc:
        net.close()
        refused = access_error(settings)
        if refused is not None:
            raise refused from exc
        raise
    except BaseException:
        net.close()
        raise
