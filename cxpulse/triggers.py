"""The event that starts the batch chain: new landing files (Airflow 3 event-driven scheduling).

`LandingFilesTrigger` runs in Airflow's triggerer as the watcher of the `cx_landing` Asset. It
lists `landing/<topic>/<partition>/` every `poke_interval` seconds and fires when the newest file of
any partition changed since its last event, so `cx_load` starts within seconds of a consumer batch
instead of at the next 5-minute tick. Landing file names carry zero-padded offsets, so name order is
offset order and "newest" needs no clock (consumers on several machines may disagree on time).
Every consumer batch writes a landing file (empty when all its messages were dead letters), so
watching `landing/` alone also covers the quarantine.

The first scan after the triggerer (re)starts fires when any landing file exists: files may have
landed while nobody watched, and one extra `cx_load` run loads nothing twice (file ledger). Events
that arrive while `cx_load` runs are merged by Airflow into one next run (`max_active_runs=1`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent


def newest_files(landing_dir: str | Path) -> dict[str, str]:
    """{"<topic>/<partition>": newest landing file name} over the partitions that hold a file."""
    newest: dict[str, str] = {}
    root = Path(landing_dir)
    try:
        topics = [entry for entry in os.scandir(root) if entry.is_dir()]
    except FileNotFoundError:
        return newest
    for topic in topics:
        for partition in os.scandir(topic.path):
            if not partition.is_dir():
                continue
            # only durable files: the consumer writes `.<name>.tmp`, then renames it
            names = [
                entry.name
                for entry in os.scandir(partition.path)
                if entry.name.endswith(".parquet") and not entry.name.startswith(".")
            ]
            if names:
                newest[f"{topic.name}/{partition.name}"] = max(names)
    return newest


class LandingFilesTrigger(BaseEventTrigger):
    """Fires when a consumer made a new landing file durable (see the module docstring)."""

    def __init__(self, directory: str, poke_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = directory
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "cxpulse.triggers.LandingFilesTrigger",
            {"directory": self.directory, "poke_interval": self.poke_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        seen: dict[str, str] = {}
        while True:
            current = await asyncio.to_thread(newest_files, self.directory)
            changed = sorted(key for key, name in current.items() if seen.get(key) != name)
            if changed:
                self.log.info("new landing files in %d partitions: %s", len(changed), ", ".join(changed[:10]))
                yield TriggerEvent({"partitions": changed, "newest": {key: current[key] for key in changed}})
                seen = current
            await asyncio.sleep(self.poke_interval)
