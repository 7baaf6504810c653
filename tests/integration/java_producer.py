"""Run kafka/CxProducer.java, the Java producer of the project's Kafka jars, from a test or a benchmark."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from cxpulse.broker import kafka_classpath

SOURCE = Path(__file__).resolve().parent.parent.parent / "kafka" / "CxProducer.java"
# kafka-clients and what it loads: the codec libraries and the logging API (no provider: no log output).
_JARS = ("kafka-clients-", "lz4-java-", "snappy-java-", "zstd-jni-", "slf4j-api-")


def classpath() -> str:
    return os.pathsep.join(jar for jar in kafka_classpath().split(os.pathsep) if Path(jar).name.startswith(_JARS))


def write_lines(path: Path, messages: Iterable[tuple[str, bytes]]) -> Path:
    """KEY<TAB>VALUE lines, the input format of CxProducer (values are single-line JSON)."""
    with path.open("wb") as fh:
        for key, value in messages:
            assert b"\n" not in value and b"\t" not in key.encode()
            fh.write(key.encode() + b"\t" + value + b"\n")
    return path


def command(
    bootstrap: str,
    topic: str,
    steps: list[str],
    *,
    compression: str = "none",
    transactional_id: str | None = None,
    partition: int = -1,
    batch_size: int | None = None,
    linger_ms: int | None = None,
) -> list[str]:
    java = shutil.which("java") or "java"
    return [
        java,
        "-Xmx256m",
        *([f"-Dcx.batch.size={batch_size}"] if batch_size else []),
        *([f"-Dcx.linger.ms={linger_ms}"] if linger_ms else []),
        "-cp",
        classpath(),
        str(SOURCE),
        bootstrap,
        topic,
        str(partition),
        compression,
        transactional_id or "-",
        *steps,
    ]


def run(bootstrap: str, topic: str, steps: list[str], **options) -> dict[str, float]:
    """Run to completion; returns what it printed as {"send": n, ..., "compression-rate-avg": r}."""
    done = subprocess.run(
        command(bootstrap, topic, steps, **options),
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"Java producer failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}"
    return parse(done.stdout)


def parse(stdout: str) -> dict[str, float]:
    printed = {}
    for line in stdout.splitlines():
        name, _, value = line.rpartition(" ")
        if name:
            printed[name] = float(value)
    return printed
