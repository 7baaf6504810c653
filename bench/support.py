"""What the broker benchmarks share: a broker of their own on a fresh data home, and how repeated measures
are summed up."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cxpulse.broker import free_port, start_broker, stop_broker
from cxpulse.config import Settings


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


@contextmanager
def own_broker(prefix: str, **fields: Any) -> Iterator[Settings]:
    """Settings on a fresh temporary data home (named from `prefix`) with a broker of their own on a free
    port, started; `fields` set other settings (topic names, ...). On leaving: the broker is stopped and
    the data home removed, so that a benchmark runs alone and leaves nothing behind."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    settings = Settings(home=home, kafka_bootstrap=f"localhost:{free_port()}", **fields)
    start_broker(settings)
    try:
        yield settings
    finally:
        stop_broker(settings)
        shutil.rmtree(home, ignore_errors=True)
