"""A local single-node Apache Kafka 4.x (KRaft) broker run from the Maven jars, for development and tests.

No tarball: `kafka-storage.sh format` is the class `kafka.tools.StorageTool` and `kafka-server-start.sh`
is `kafka.Kafka`; both run with `java -cp` over the jars that `make setup` copies to .cache/kafka-libs
(or the folder in CXPULSE_KAFKA_LIBS). All state lives under `settings.kafka_dir`:

    server.properties   written on every start from the settings
    controller.port     the CONTROLLER port chosen at the first start (reused ever after, see below)
    data/               the KRaft metadata log and the topic data (formatted once)
    logs/               server.log (INFO, log4j2), broker.out (stdout/stderr: WARN and JVM errors)
    broker.pid          the pid of the running broker
    tls/                the throwaway CA and broker key store of the secured variant (see broker_security)

With kafka_security_protocol = SASL_SSL and a SCRAM kafka_sasl_mechanism the client listener requires
TLS and a SCRAM login (cxpulse/broker_security.py); otherwise it is PLAINTEXT, as for the tests.

The store is formatted with `--standalone`, which records the controller's endpoint (host:port of the
CONTROLLER listener) as the single voter in the metadata log. That is why the controller port is chosen
once and kept: a restart of an existing store listens on the same controller endpoint.

This module runs the process (start, stop, status, topics); cxpulse.broker_setup prepares what it needs
(jars, java command line, paths, server.properties, the formatted store).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from cxpulse import broker_security
from cxpulse.broker_setup import (
    BROKER_HEAP,
    BrokerError,
    _controller_endpoint,
    _controller_port,
    _format_storage,
    _java,
    _Paths,
    _paths,
    _port_open,
    _recorded_listener,
    _secure_client,
    _server_properties,
    _split_host_port,
    _tls,
    _write_properties,
    free_port,
)
from cxpulse.broker_setup import kafka_classpath as kafka_classpath  # re-exported: tests and tools use it
from cxpulse.config import Settings
from streams.kafka_clients import KafkaAccessError, kafka_client

log = logging.getLogger(__name__)

SOURCE_PARTITIONS = 3
OTHER_PARTITIONS = 1
_TOPIC_ALREADY_EXISTS = 36  # Kafka error code

# Popen handles of brokers started by this process, so they are reaped (not left as zombies) on stop.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    bootstrap: str
    controller: str  # host:port of the CONTROLLER listener
    started_s: float  # seconds this call took (0.0 when the broker was already running)


class BrokerStatus(TypedDict):
    running: bool  # something answers the Kafka protocol on `bootstrap`
    pid: int | None  # the broker recorded in kafka_dir/broker.pid, when alive
    bootstrap: str
    topics: dict[str, int] | None  # name -> partition count (internal topics left out), when running


# -- admin client -----------------------------------------------------------------------------------
def _admin(settings: Settings, timeout_ms: int = 10_000) -> KafkaAdminClient:
    """An admin client on settings.kafka_bootstrap with the settings' security options (the one factory)."""
    return kafka_client(
        KafkaAdminClient,
        settings,
        "cxpulse-broker",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def _answers(settings: Settings, timeout_ms: int = 3_000) -> bool:
    """True when a Kafka broker answers (metadata) on settings.kafka_bootstrap.

    Raises KafkaAccessError when one answers but refuses these settings (credentials, certificate).
    """
    host, port = _split_host_port(settings.kafka_bootstrap)
    if not _port_open(host, port):
        return False
    try:
        _admin(settings, timeout_ms).close()
    except KafkaAccessError:
        raise
    except KafkaError:
        return False
    return True


def answers(bootstrap: str, settings: Settings | None = None) -> bool:
    """Whether a Kafka broker (ours or not) answers on `bootstrap` (security options from `settings`).

    A broker that answers but refuses the settings counts as answering: the next call says why.
    """
    try:
        return _answers(dataclasses.replace(settings or Settings(), kafka_bootstrap=bootstrap))
    except KafkaAccessError:
        return True


def ensure_topics(bootstrap: str, settings: Settings, timeout_s: float = 30) -> list[str]:
    """Create the four cxpulse topics of `settings` on `bootstrap` when missing; return those created.

    Touchpoints and surveys get 3 partitions, dead letters and alerts 1; replication factor 1. Waits until
    every partition of the four topics has a leader. Existing topics are left as they are.
    """
    wanted = {
        settings.topic_touchpoints: SOURCE_PARTITIONS,
        settings.topic_surveys: SOURCE_PARTITIONS,
        settings.topic_deadletter: OTHER_PARTITIONS,
        settings.topic_alerts: OTHER_PARTITIONS,
    }
    try:
        admin = _admin(dataclasses.replace(settings, kafka_bootstrap=bootstrap), 15_000)
    except KafkaAccessError as exc:
        raise BrokerError(str(exc)) from exc
    except KafkaError as exc:
        raise BrokerError(
            f"no Kafka broker answers on {bootstrap} ({exc}): start one with `cxpulse broker start`"
        ) from exc
    try:
        existing = set(admin.list_topics())
        missing = {name: n for name, n in wanted.items() if name not in existing}
        if missing:
            request = {name: {"num_partitions": n, "replication_factor": 1} for name, n in missing.items()}
            response = admin.create_topics(request, timeout_ms=int(timeout_s * 1000), raise_errors=False)
            failed = [
                f"{t['name']}: {t.get('error_message') or t['error_code']}"
                for t in response["topics"]
                if t["error_code"] not in (0, _TOPIC_ALREADY_EXISTS)
            ]
            if failed:
                raise BrokerError(f"could not create topics on {bootstrap}: {'; '.join(failed)}")
            log.info("created topics %s on %s", ", ".join(sorted(missing)), bootstrap)
        admin.wait_for_topics(list(wanted), timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise BrokerError(f"topics {', '.join(wanted)} are not ready on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
    return sorted(missing)


# -- process bookkeeping ----------------------------------------------------------------------------
def _is_our_broker(pid: int, paths: _Paths) -> bool:
    """True when pid is a live java running kafka.Kafka with this home's server.properties."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if not argv or not argv[0] or os.path.basename(argv[0]) != b"java":
        return False
    return b"kafka.Kafka" in argv and str(paths.props).encode() in argv


def _recorded_pid(paths: _Paths) -> int | None:
    """The pid in broker.pid when that process is our broker and alive, else None."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_our_broker(pid, paths) else None


@contextlib.contextmanager
def _locked(paths: _Paths) -> Iterator[None]:
    """Serialise start/stop of one data home across processes (CLI, Airflow tasks, tests)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text) if text else f"({path} is empty)"


def _logs_tail(paths: _Paths, lines: int = 30) -> str:
    return (
        f"--- last lines of {paths.out} ---\n{_tail(paths.out, lines)}\n"
        f"--- last lines of {paths.server_log} ---\n{_tail(paths.server_log, lines)}"
    )


# -- start / stop / status --------------------------------------------------------------------------
def start_broker(settings: Settings, timeout_s: float = 90) -> BrokerInfo:
    """Start the broker of this data home (or find it running), wait until it answers, create the topics.

    Idempotent: when the broker recorded in kafka_dir/broker.pid is alive and answers, it is returned.
    """
    t0 = time.monotonic()
    paths = _paths(settings)
    host, port = _split_host_port(settings.kafka_bootstrap)
    try:
        secured = broker_security.is_secured(settings)
    except broker_security.SecurityError as exc:
        raise BrokerError(str(exc)) from None
    with _locked(paths):
        pid = _recorded_pid(paths)
        if pid is not None:
            protocol, running_on = _recorded_listener(paths) or ("", "")
            if running_on and running_on != f"{host}:{port}":
                raise BrokerError(
                    f"the broker of {paths.root} (pid {pid}) runs on {running_on}, not on "
                    f"{settings.kafka_bootstrap}: use CXPULSE_KAFKA_BOOTSTRAP={running_on}, or stop it with "
                    "`cxpulse broker stop` and start it again on the new address"
                )
            wanted = "SASL_SSL" if secured else "PLAINTEXT"
            if protocol and protocol != wanted:
                raise BrokerError(
                    f"the broker of {paths.root} (pid {pid}) listens with {protocol}, and the config key "
                    f"'kafka_security_protocol' says {settings.kafka_security_protocol}: stop it with "
                    "`cxpulse broker stop` and start it again"
                )
            client = _secure_client(settings, paths, host) if secured else settings
            _wait_until_answers(client, paths, None, pid, t0 + timeout_s)
            ensure_topics(settings.kafka_bootstrap, client)
            return BrokerInfo(pid, settings.kafka_bootstrap, _controller_endpoint(paths, host), 0.0)
        if _port_open(host, port):
            what = "a Kafka broker" if answers(settings.kafka_bootstrap, settings) else "another program"
            raise BrokerError(
                f"{what} already listens on {settings.kafka_bootstrap} and it is not the broker of "
                f"{paths.root}: stop it, or pick a free address with CXPULSE_KAFKA_BOOTSTRAP=host:port"
            )
        for folder in (paths.root, paths.data, paths.logs):
            folder.mkdir(parents=True, exist_ok=True)
        controller_port = _controller_port(paths, host, avoid=frozenset({port}))  # the client port
        props = _server_properties(settings, paths, controller_port)
        if secured:
            tls = _tls(paths, host)
            internal_port = free_port(broker_security.INTERNAL_HOST, avoid=frozenset({port, controller_port}))
            props.update(broker_security.secured_properties(settings, tls, host, port, internal_port, controller_port))
        _write_properties(paths, props)
        _format_storage(paths)

        with paths.out.open("ab") as out:
            process = subprocess.Popen(
                _java(paths, BROKER_HEAP, "kafka.Kafka", str(paths.props)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=paths.root,
            )
        _CHILDREN[process.pid] = process
        paths.pid.write_text(f"{process.pid}\n")
        try:
            client = settings
            if secured:
                # First the loopback listener, to set the SCRAM credential; then the SASL_SSL listener as
                # every client will see it (TLS handshake with the local CA, SCRAM login).
                internal = broker_security.internal_settings(settings, internal_port)
                _wait_until_answers(internal, paths, process, process.pid, t0 + timeout_s)
                try:
                    broker_security.upsert_credentials(settings, internal_port)
                except broker_security.SecurityError as exc:
                    raise BrokerError(str(exc)) from None
                client = broker_security.client_settings(settings, tls)
            _wait_until_answers(client, paths, process, process.pid, t0 + timeout_s)
            ensure_topics(settings.kafka_bootstrap, client)
        except BaseException:
            _stop_locked(paths, 10)
            raise
        elapsed = time.monotonic() - t0
        log.info("Kafka broker pid %d answers on %s after %.1f s", process.pid, settings.kafka_bootstrap, elapsed)
        return BrokerInfo(process.pid, settings.kafka_bootstrap, f"{host}:{controller_port}", elapsed)


def _wait_until_answers(
    settings: Settings, paths: _Paths, process: subprocess.Popen[bytes] | None, pid: int, deadline: float
) -> None:
    """Poll (with backoff) until the broker answers on the bootstrap address; fail fast if it dies.

    A refusal (KafkaAccessError) ends the wait at once for a running broker; for one starting now (process
    given) it counts as "not yet" until the deadline, as the SCRAM credential just set may take a moment
    to reach the listener.
    """
    delay = 0.2
    refused: KafkaAccessError | None = None
    while True:
        try:
            if _answers(settings):
                return
        except KafkaAccessError as exc:
            if process is None:
                raise BrokerError(str(exc)) from None
            refused = exc
        died = process.poll() is not None if process is not None else not _is_our_broker(pid, paths)
        if died:
            code = f" with code {process.returncode}" if process is not None else ""
            raise BrokerError(
                f"the Kafka broker (pid {pid}) exited{code} before answering on {settings.kafka_bootstrap}."
                f"\n{_logs_tail(paths)}"
            )
        if time.monotonic() > deadline:
            last = f" Last refusal: {refused}" if refused is not None else ""
            raise BrokerError(
                f"the Kafka broker (pid {pid}) did not answer on {settings.kafka_bootstrap} in time; "
                f"check {paths.logs}, then `cxpulse broker stop` and start it again (a slow machine may "
                f"need a longer timeout).{last}\n{_logs_tail(paths)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def _stop_locked(paths: _Paths, timeout_s: float) -> bool:
    pid = _recorded_pid(paths)
    if pid is None:
        paths.pid.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _is_our_broker(pid, paths) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _is_our_broker(pid, paths):
        log.warning("Kafka broker pid %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pid, None)
    if child is not None:  # started by this process: reap it so it does not linger as a zombie
        child.wait(timeout=10)
    else:
        while _is_our_broker(pid, paths):
            time.sleep(0.1)
    paths.pid.unlink(missing_ok=True)
    return True


def stop_broker(settings: Settings, timeout_s: float = 30) -> bool:
    """Stop the broker recorded for this data home (only that process): SIGTERM, SIGKILL after timeout_s.

    Returns False when no broker of this home was running.
    """
    paths = _paths(settings)
    if not paths.root.exists():
        return False
    with _locked(paths):
        return _stop_locked(paths, timeout_s)


def broker_status(settings: Settings) -> BrokerStatus:
    """Whether a broker answers on settings.kafka_bootstrap, our recorded pid, and the topics there.

    Raises KafkaAccessError when a broker answers but refuses the settings (credentials, certificate).
    """
    pid = _recorded_pid(_paths(settings))
    status = BrokerStatus(running=False, pid=pid, bootstrap=settings.kafka_bootstrap, topics=None)
    if not _port_open(*_split_host_port(settings.kafka_bootstrap)):
        return status
    try:
        admin = _admin(settings, 5_000)
    except KafkaAccessError:
        raise
    except KafkaError:
        return status
    try:
        names = [t for t in admin.list_topics() if not t.startswith("__")]
        described = admin.describe_topics(names) if names else []
        status["topics"] = {d["name"]: len(d["partitions"]) for d in described}
        status["running"] = True
    except KafkaError:
        pass
    finally:
        admin.close()
    return status
