"""What the local broker needs before its process starts: the Kafka jars and the `java` command line, the
files under `settings.kafka_dir` (`_Paths`), server.properties, the CONTROLLER port kept from the first
start, the KRaft store formatted once, the TLS files of the secured variant. cxpulse.broker runs the
process; see its docstring for the layout of kafka_dir and why the controller port is kept.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cxpulse import broker_security
from cxpulse.config import Settings

log = logging.getLogger("cxpulse.broker")  # one logger for the local broker

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG4J_CONFIG = REPO_ROOT / "kafka" / "log4j2.yaml"
KAFKA_LIBS_ENV = "CXPULSE_KAFKA_LIBS"
BROKER_HEAP = ("-Xms256m", "-Xmx768m")
TOOL_HEAP = ("-Xmx256m",)


class BrokerError(RuntimeError):
    """The local broker could not be started, reached or stopped; the message says what to do next."""


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


def free_port(host: str = "localhost", avoid: frozenset[int] = frozenset()) -> int:
    """A TCP port that is free right now on host (the OS picks it), other than the ports in `avoid`:
    those of the broker's other listeners, free too while it is stopped, which the OS may hand out."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port


def _port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


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


def _controller_port(paths: _Paths, host: str, avoid: frozenset[int] = frozenset()) -> int:
    """The CONTROLLER port: the one saved at an earlier start when it is free, else a new free one.

    `--standalone` records the controller endpoint as the only voter in the store, so the saved port is
    reused. When another program took it meanwhile, a new port works too (checked with Kafka 4.1): the
    store is at kraft.version 1 (dynamic quorum), and the lone voter rewrites its own endpoint on start.
    """
    saved = _saved_controller_port(paths)
    if saved is not None and saved not in avoid and not _port_open(host, saved):
        port = saved
    else:
        port = free_port(host, avoid)
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
