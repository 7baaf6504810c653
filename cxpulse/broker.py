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
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from cxpulse import broker_security
from cxpulse.config import Settings
from streams.kafka_clients import KafkaAccessError, kafka_client

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG4J_CONFIG = REPO_ROOT / "kafka" / "log4j2.yaml"
KAFKA_LIBS_ENV = "CXPULSE_KAFKA_LIBS"
SOURCE_PARTITIONS = 3
OTHER_PARTITIONS = 1
BROKER_HEAP = ("-Xms256m", "-Xmx768m")
TOOL_HEAP = ("-Xmx256m",)
_TOPIC_ALREADY_EXISTS = 36  # Kafka error code

# Popen handles of brokers started by this process, so they are reaped (not left as zombies) on stop.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class BrokerError(RuntimeError):
    """The local broker could not be started, reached or stopped; the message says what to do next."""


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


@dataclass(frozen=True)
class _Paths:
    root: Path

    @property
    def props(self) -> Path:
        return self.root / "server.properties"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def out(self) -> Path:
        return self.logs / "broker.out"

    @property
    def server_log(self) -> Path:
        return self.logs / "server.log"

    @property
    def pid(self) -> Path:
        return self.root / "broker.pid"

    @property
    def controller_port(self) -> Path:
        return self.root / "controller.port"

    @property
    def lock(self) -> Path:
        return self.root / "broker.lock"


def _paths(settings: Settings) -> _Paths:
    return _Paths(Path(settings.kafka_dir).expanduser().resolve())


# -- environment ------------------------------------------------------------------------------------
def kafka_classpath() -> str:
    """The Java classpath of the Kafka jars (CXPULSE_KAFKA_LIBS, else <repo>/.cache/kafka-libs)."""
    libs = Path(os.environ.get(KAFKA_LIBS_ENV) or REPO_ROOT / ".cache" / "kafka-libs")
    jars = sorted(libs.glob("*.jar"))
    if not any(j.name.startswith("kafka_2.13-") for j in jars):
        raise BrokerError(
            f"no Kafka jars in {libs}: run `make setup` (it copies them there with Maven), "
            f"or point {KAFKA_LIBS_ENV} at a folder holding kafka_2.13-*.jar and its dependencies"
        )
    return os.pathsep.join(str(j) for j in jars)


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.is_file():
        return str(candidate)
    found = shutil.which("java")
    if not found:
        raise BrokerError("no `java` on PATH: install a Java 17+ runtime (or set JAVA_HOME)")
    return found


def _java(paths: _Paths, heap: tuple[str, ...], main_class: str, *args: str) -> list[str]:
    return [
        _java_executable(),
        *heap,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        kafka_classpath(),
        main_class,
        *args,
    ]


def _split_host_port(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    if not host or not port.isdigit():
        raise BrokerError(f"kafka_bootstrap must be host:port (e.g. localhost:9092), got {bootstrap!r}")
    return host, int(port)


def free_port(host: str = "localhost") -> int:
    """A TCP port that is free right now on host (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


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


# -- configuration and storage ----------------------------------------------------------------------
def _saved_controller_port(paths: _Paths) -> int | None:
    try:
        return int(paths.controller_port.read_text().strip())
    except (OSError, ValueError):
        pass
    # A store formatted before controller.port existed: take the port from the old server.properties.
    with contextlib.suppress(OSError):
        for line in paths.props.read_text().splitlines():
            if line.startswith("listeners="):
                for listener in line.partition("=")[2].split(","):
                    if listener.startswith("CONTROLLER://"):
                        return int(listener.rpartition(":")[2])
    return None


def _recorded_listener(paths: _Paths) -> tuple[str, str] | None:
    """(protocol, host:port) of the client listener (PLAINTEXT or SASL_SSL) in the last server.properties."""
    with contextlib.suppress(OSError):
        for line in paths.props.read_text().splitlines():
            if line.startswith("listeners="):
                for listener in line.partition("=")[2].split(","):
                    name, _, address = listener.partition("://")
                    if name in ("PLAINTEXT", "SASL_SSL"):
                        return name, address
    return None


def _controller_port(paths: _Paths, host: str) -> int:
    """The CONTROLLER port: the one saved at an earlier start when it is free, else a new free one.

    `--standalone` records the controller endpoint as the only voter in the store, so the saved port is
    reused. When another program took it meanwhile, a new port works too (checked with Kafka 4.1): the
    store is at kraft.version 1 (dynamic quorum), and the lone voter rewrites its own endpoint on start.
    """
    saved = _saved_controller_port(paths)
    if saved is not None and not _port_open(host, saved):
        port = saved
    else:
        port = free_port(host)
        if saved is not None and (paths.data / "meta.properties").exists():
            log.warning(
                "controller port %d of %s is taken by another program; using %d instead",
                saved,
                paths.root,
                port,
            )
    paths.controller_port.write_text(f"{port}\n")
    return port


def _server_properties(settings: Settings, paths: _Paths, controller_port: int) -> dict[str, str]:
    host, port = _split_host_port(settings.kafka_bootstrap)
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(paths.data),
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "3",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # A small machine: few threads, small buffers, bounded disk use.
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "background.threads": "4",
        "log.cleaner.threads": "1",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "log.segment.bytes": str(128 * 1024 * 1024),
        "log.retention.hours": "168",
        "log.retention.bytes": str(1024 * 1024 * 1024),
        "log.retention.check.interval.ms": "300000",
    }


def _write_properties(paths: _Paths, props: dict[str, str]) -> None:
    body = "".join(f"{key}={value}\n" for key, value in props.items())
    # It may hold the key store password of the secured broker: readable by its owner only.
    paths.props.touch(mode=0o600)
    paths.props.chmod(0o600)
    paths.props.write_text("# Written by cxpulse.broker on every start; edits are overwritten.\n" + body)


def _new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding (Kafka's Uuid format)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):  # would be read as an option on the StorageTool command line
            return cluster_id


def _format_storage(paths: _Paths) -> bool:
    """Format the KRaft store once (--standalone: this node is the only controller). True when done now."""
    if (paths.data / "meta.properties").exists():
        return False
    cmd = _java(
        paths,
        TOOL_HEAP,
        "kafka.tools.StorageTool",
        "format",
        "--standalone",
        "-t",
        _new_cluster_id(),
        "-c",
        str(paths.props),
    )
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    if done.returncode != 0:
        output = (done.stderr.strip() + "\n" + done.stdout.strip()).strip()
        raise BrokerError(
            f"formatting the KRaft store in {paths.data} failed (exit {done.returncode}):\n{output}\n"
            f"If {paths.data} holds an old or broken store, delete {paths.root} and start again."
        )
    log.info("formatted KRaft store in %s", paths.data)
    return True


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
        controller_port = _controller_port(paths, host)
        props = _server_properties(settings, paths, controller_port)
        if secured:
            tls = _tls(paths, host)
            internal_port = free_port(broker_security.INTERNAL_HOST)
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


def _tls(paths: _Paths, host: str) -> broker_security.TlsFiles:
    try:
        return broker_security.ensure_tls(paths.root, host)
    except broker_security.SecurityError as exc:
        raise BrokerError(str(exc)) from None


def _secure_client(settings: Settings, paths: _Paths, host: str) -> Settings:
    return broker_security.client_settings(settings, _tls(paths, host))


def _controller_endpoint(paths: _Paths, host: str) -> str:
    port = _saved_controller_port(paths)
    return f"{host}:{port}" if port is not None else ""


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
