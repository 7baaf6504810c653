"""The secured variant of the local broker: a SASL_SSL client listener with SCRAM users.

`cxpulse broker start` secures the broker when the settings ask clients to connect with
kafka_security_protocol = SASL_SSL and a SCRAM kafka_sasl_mechanism: the same settings then drive the
broker and every client, so they cannot disagree. What it sets up under `settings.kafka_dir`:

    tls/ca.p12, tls/ca.pem       a throwaway certificate authority made with the JDK's keytool (the
                                 PEM is what clients trust: CXPULSE_KAFKA_SSL_CAFILE)
    tls/broker.p12               the broker's key and certificate, signed by that CA, valid for
                                 localhost, 127.0.0.1 and the host of kafka_bootstrap
    tls/store.password           the random password of both key stores (files are 0600)

Listeners: the client listener on kafka_bootstrap speaks only SASL_SSL. The broker also needs an
inter-broker listener and the KRaft controller listener; both stay PLAINTEXT, the inter-broker one
bound to 127.0.0.1 only (a local development broker, not a production set-up). The manager uses that
loopback listener once per start to create or update the SCRAM credential of CXPULSE_KAFKA_SASL_USERNAME
with CXPULSE_KAFKA_SASL_PASSWORD (admin API, so the password never appears on a command line), which
also makes a password change take effect on the next start.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion
from kafka.errors import KafkaError

from cxpulse.config import Settings
from streams.kafka_clients import kafka_client

log = logging.getLogger(__name__)

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
INTERNAL_HOST = "127.0.0.1"
VALIDITY_DAYS = "3650"
_STOREPASS_ENV = "CXPULSE_KEYSTORE_PASSWORD"  # keytool reads the store password from here (-storepass:env)


class SecurityError(RuntimeError):
    """The secured broker could not be set up; the message says why and what to do."""


def is_secured(settings: Settings) -> bool:
    """Whether the local broker of these settings needs the SASL_SSL listener; fail on what it cannot serve."""
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    if protocol == "PLAINTEXT":
        return False
    if protocol == "SASL_SSL" and mechanism in SCRAM_MECHANISMS:
        return True
    raise SecurityError(
        "the local broker (`cxpulse broker start`) serves config key 'kafka_security_protocol' PLAINTEXT, or "
        f"SASL_SSL with 'kafka_sasl_mechanism' one of {', '.join(SCRAM_MECHANISMS)}; got {protocol} with "
        f"{mechanism}. Use a broker of your own for other set-ups."
    )


@dataclass(frozen=True)
class TlsFiles:
    ca_pem: Path
    keystore: Path
    password: str = dataclasses.field(repr=False)


def _keytool() -> str:
    """keytool of the JDK that runs the broker (beside `java`), else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin" / "keytool"] if java_home else []
    java = shutil.which("java")
    if java:
        candidates.append(Path(os.path.realpath(java)).parent / "keytool")
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("keytool")
    if not found:
        raise SecurityError("no `keytool` found (it ships with every Java runtime): install Java 17+ or set JAVA_HOME")
    return found


def _run_keytool(password: str, command: str, keystore: Path, *args: str) -> None:
    """keytool COMMAND on a PKCS12 store; the store password travels in the environment, not in argv."""
    env = {**os.environ, _STOREPASS_ENV: password}
    argv = [_keytool(), command, "-keystore", str(keystore), "-storetype", "PKCS12"]
    argv += ["-storepass:env", _STOREPASS_ENV, *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0:
        output = (done.stderr.strip() + "\n" + done.stdout.strip()).strip()
        raise SecurityError(f"keytool {command} failed (exit {done.returncode}):\n{output}")


def _subject_alt_names(host: str) -> str:
    names = {"dns:localhost", f"ip:{INTERNAL_HOST}"}
    try:
        names.add(f"ip:{ipaddress.ip_address(host)}")
    except ValueError:
        names.add(f"dns:{host}")
    return ",".join(sorted(names))


def ensure_tls(kafka_dir: Path, host: str) -> TlsFiles:
    """The CA and the broker key store under kafka_dir/tls, made once (the broker's again if host changed)."""
    tls = kafka_dir / "tls"
    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    password_file = tls / "store.password"
    if not password_file.exists():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(24))
    password = password_file.read_text().strip()
    new_key = ("-keypass:env", _STOREPASS_ENV, "-keyalg", "RSA", "-keysize", "2048", "-validity", VALIDITY_DAYS)
    ca_store, ca_pem = tls / "ca.p12", tls / "ca.pem"
    keystore, names_file = tls / "broker.p12", tls / "broker.names"
    if not (ca_store.exists() and ca_pem.exists()):
        for stale in (ca_store, ca_pem, keystore):
            stale.unlink(missing_ok=True)
        _run_keytool(
            password, "-genkeypair", ca_store, "-alias", "ca", "-dname", "CN=cxpulse local CA (throwaway)",
            "-ext", "bc:c", *new_key,
        )  # fmt: skip
        _run_keytool(password, "-exportcert", ca_store, "-alias", "ca", "-rfc", "-file", str(ca_pem))
    names = _subject_alt_names(host)
    if not keystore.exists() or not names_file.exists() or names_file.read_text().strip() != names:
        keystore.unlink(missing_ok=True)
        csr, signed = tls / "broker.csr", tls / "broker.pem"
        _run_keytool(password, "-genkeypair", keystore, "-alias", "broker", "-dname", f"CN={host}", *new_key)
        _run_keytool(password, "-certreq", keystore, "-alias", "broker", "-file", str(csr))
        _run_keytool(
            password, "-gencert", ca_store, "-alias", "ca", "-infile", str(csr), "-outfile", str(signed), "-rfc",
            "-validity", VALIDITY_DAYS, "-ext", f"SAN={names}", "-ext", "KU=digitalSignature,keyEncipherment",
            "-ext", "EKU=serverAuth",
        )  # fmt: skip
        # The CA first, so that the signed reply can replace the self-signed broker certificate.
        _run_keytool(password, "-importcert", keystore, "-noprompt", "-alias", "ca", "-file", str(ca_pem))
        _run_keytool(password, "-importcert", keystore, "-noprompt", "-alias", "broker", "-file", str(signed))
        csr.unlink(missing_ok=True)
        signed.unlink(missing_ok=True)
        names_file.write_text(names + "\n")
        log.info("made the broker certificate for %s, signed by the local CA %s", names, ca_pem)
    for path in (ca_store, keystore):
        path.chmod(0o600)
    return TlsFiles(ca_pem=ca_pem, keystore=keystore, password=password)


def secured_properties(
    settings: Settings, tls: TlsFiles, host: str, port: int, internal_port: int, controller_port: int
) -> dict[str, str]:
    """The listener and security lines of server.properties for the SASL_SSL client listener."""
    mechanism = settings.kafka_sasl_mechanism
    listeners = (
        f"SASL_SSL://{host}:{port},INTERNAL://{INTERNAL_HOST}:{internal_port},CONTROLLER://{host}:{controller_port}"
    )
    return {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "inter.broker.listener.name": "INTERNAL",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": mechanism,
        f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(tls.keystore),
        "ssl.keystore.password": tls.password,
        "ssl.key.password": tls.password,
        "ssl.client.auth": "none",
    }


def internal_settings(settings: Settings, internal_port: int) -> Settings:
    """Settings that reach the broker on its loopback PLAINTEXT listener (the manager's own use only)."""
    return dataclasses.replace(
        settings,
        kafka_bootstrap=f"{INTERNAL_HOST}:{internal_port}",
        kafka_security_protocol="PLAINTEXT",
        kafka_sasl_username=None,
        kafka_sasl_password=None,
    )


def client_settings(settings: Settings, tls: TlsFiles) -> Settings:
    """The settings the manager connects with on the SASL_SSL listener: the local CA unless one is set."""
    return dataclasses.replace(settings, kafka_ssl_cafile=settings.kafka_ssl_cafile or str(tls.ca_pem))


def upsert_credentials(settings: Settings, internal_port: int) -> None:
    """Create or update the SCRAM credential of the configured user (on the loopback listener)."""
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    if not (user and password):  # the config requires both for SASL_* (checked when it loads)
        raise SecurityError("set CXPULSE_KAFKA_SASL_USERNAME and CXPULSE_KAFKA_SASL_PASSWORD in the environment")
    try:
        admin = kafka_client(
            KafkaAdminClient,
            internal_settings(settings, internal_port),
            "cxpulse-broker",
            request_timeout_ms=15_000,
            bootstrap_timeout_ms=15_000,
        )
    except KafkaError as exc:
        raise SecurityError(
            f"the broker's loopback listener {INTERNAL_HOST}:{internal_port} does not answer: {exc}"
        ) from exc
    try:
        upsertion = UserScramCredentialUpsertion(user, settings.kafka_sasl_mechanism, password)
        errors = {u: e for u, e in admin.alter_user_scram_credentials([upsertion]).items() if e}
    except KafkaError as exc:
        raise SecurityError(f"could not set the SCRAM credential of user {user!r}: {exc}") from exc
    finally:
        admin.close()
    if errors:
        raise SecurityError(f"could not set the SCRAM credential of user {user!r}: {errors[user]}")
    log.info("SCRAM credential (%s) of user %r set", settings.kafka_sasl_mechanism, user)
