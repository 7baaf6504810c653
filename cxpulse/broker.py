"""A local single-node Apache Kafka 4.x (KRaft) run from the Maven jars, for development and tests.

`kafka-storage.sh format` is the class kafka.tools.StorageTool and `kafka-server-start.sh` is
kafka.Kafka; both run with `java -cp` over the jars that `make setup` copies to .cache/kafka-libs.
State lives under $CXPULSE_HOME/kafka: server.properties, data/, logs/, broker.pid.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from cxpulse.config import Settings
from kafka import KafkaAdminClient

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG4J_CONFIG = REPO_ROOT / "kafka" / "log4j2.yaml"
SOURCE_PARTITIONS = 3


class BrokerError(RuntimeError):
    pass


@dataclass(frozen=True)
class BrokerInfo:
    pid: int
    bootstrap: str


def kafka_classpath() -> str:
    libs = Path(os.environ.get("CXPULSE_KAFKA_LIBS", REPO_ROOT / ".cache" / "kafka-libs"))
    jars = sorted(libs.glob("*.jar"))
    if not jars:
        raise BrokerError(f"no Kafka jars in {libs}: run `make setup` (it fetches them with Maven)")
    return os.pathsep.join(str(j) for j in jars)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _paths(settings: Settings) -> dict[str, Path]:
    root = settings.kafka_dir
    return {
        "root": root,
        "props": root / "server.properties",
        "data": root / "data",
        "logs": root / "logs",
        "pid": root / "broker.pid",
        "controller_port": root / "controller.port",
    }


def _pid_alive(pid: int) -> bool:
    """True when pid is a live kafka.Kafka process started for this data home (never kill a stranger)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and any(b"server.properties" in part for part in cmdline)


def _recorded_pid(settings: Settings) -> int | None:
    try:
        pid = int(_paths(settings)["pid"].read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _pid_alive(pid) else None


def _write_properties(settings: Settings) -> None:
    p = _paths(settings)
    host, _, port = settings.kafka_bootstrap.rpartition(":")
    # The controller endpoint is recorded in the formatted store (--standalone), so it must not change
    # between starts of the same store.
    if p["controller_port"].exists():
        controller_port = int(p["controller_port"].read_text())
    else:
        controller_port = free_port()
        p["controller_port"].write_text(str(controller_port))
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(p["data"]),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "log.retention.hours": "168",
    }
    p["props"].write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _java(settings: Settings, main_class: str, *args: str, heap: str = "-Xmx256m") -> list[str]:
    p = _paths(settings)
    return [
        "java",
        heap,
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={p['logs']}",
        "-cp",
        kafka_classpath(),
        main_class,
        *args,
    ]


def _format_storage(settings: Settings) -> None:
    p = _paths(settings)
    if (p["data"] / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    done = subprocess.run(
        _java(
            settings,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(p["props"]),
        ),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BrokerError(f"formatting the KRaft store failed: {done.stderr.strip() or done.stdout.strip()}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _admin(bootstrap: str, timeout_ms: int = 5_000) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="cxpulse-broker",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )


def answers(bootstrap: str) -> bool:
    try:
        _admin(bootstrap, 2_000).close()
    except KafkaError:
        return False
    return True


def ensure_topics(bootstrap: str, settings: Settings) -> None:
    """Create the four cxpulse topics when missing (3 partitions for the sources, 1 for the others)."""
    wanted = {
        settings.topic_touchpoints: SOURCE_PARTITIONS,
        settings.topic_surveys: SOURCE_PARTITIONS,
        settings.topic_deadletter: 1,
        settings.topic_alerts: 1,
    }
    admin = _admin(bootstrap, 15_000)
    try:
        missing = [NewTopic(t, n, 1) for t, n in wanted.items() if t not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not set(wanted) <= set(admin.list_topics()):
            time.sleep(0.2)
    finally:
        admin.close()


def start_broker(settings: Settings, timeout_s: float = 90) -> BrokerInfo:
    """Start (or find running) the broker of this data home, wait until it answers, create the topics."""
    pid = _recorded_pid(settings)
    if pid is not None and answers(settings.kafka_bootstrap):
        ensure_topics(settings.kafka_bootstrap, settings)
        return BrokerInfo(pid, settings.kafka_bootstrap)
    if pid is None and answers(settings.kafka_bootstrap):
        raise BrokerError(
            f"something else already answers on {settings.kafka_bootstrap}: stop it, or choose "
            "another address with CXPULSE_KAFKA_BOOTSTRAP=host:port"
        )
    p = _paths(settings)
    for folder in (p["root"], p["data"], p["logs"]):
        folder.mkdir(parents=True, exist_ok=True)
    _write_properties(settings)
    _format_storage(settings)
    out = (p["logs"] / "broker.out").open("ab")
    process = subprocess.Popen(
        _java(settings, "kafka.Kafka", str(p["props"]), heap="-Xmx768m"),
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    p["pid"].write_text(str(process.pid))
    deadline = time.monotonic() + timeout_s
    delay = 0.25
    while not answers(settings.kafka_bootstrap):
        if process.poll() is not None:
            raise BrokerError(
                f"Kafka exited with code {process.returncode}; last lines of "
                f"{p['logs'] / 'broker.out'}:\n{_tail(p['logs'] / 'broker.out')}"
            )
        if time.monotonic() > deadline:
            stop_broker(settings)
            raise BrokerError(
                f"Kafka did not answer on {settings.kafka_bootstrap} within {timeout_s:.0f} s; "
                f"see {p['logs']}"
            )
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    ensure_topics(settings.kafka_bootstrap, settings)
    return BrokerInfo(process.pid, settings.kafka_bootstrap)


def stop_broker(settings: Settings, timeout_s: float = 30) -> bool:
    """SIGTERM the recorded broker (only it), SIGKILL after timeout_s. False when none was running."""
    pid = _recorded_pid(settings)
    _paths(settings)["pid"].unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    try:  # reap it when we are its parent (tests), so it does not linger as a zombie
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    return True


def broker_status(settings: Settings) -> dict:
    pid = _recorded_pid(settings)
    running = answers(settings.kafka_bootstrap)
    status: dict = {"running": running, "pid": pid, "bootstrap": settings.kafka_bootstrap, "topics": None}
    if running:
        admin = _admin(settings.kafka_bootstrap)
        try:
            topics = [t for t in admin.list_topics() if not t.startswith("__")]
            described = admin.describe_topics(topics)
            status["topics"] = {d["name"]: len(d["partitions"]) for d in described}
        finally:
            admin.close()
    return status
