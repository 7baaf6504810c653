"""The landing-files watcher on a real folder: fires on a new durable file, never on a temp file,
once per change, and at its first scan when files landed while nobody watched."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from cxpulse.config import Settings


@pytest.fixture(scope="module", autouse=True)
def airflow_configured(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Importing the trigger imports Airflow, which reads its configuration once per process: point
    it at a temporary home first (as every test that runs Airflow does), never at ~/airflow."""
    from cxpulse import airflow_local

    airflow_local.configure(Settings(home=tmp_path_factory.mktemp("cxpulse")))


def _triggers():
    from cxpulse import triggers

    return triggers


def _land(root: Path, topic: str, partition: int, first: int, last: int, *, temp: bool = False) -> None:
    folder = root / topic / str(partition)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{first:020d}-{last:020d}.parquet"
    (folder / (f".{name}.tmp" if temp else name)).write_bytes(b"PAR1")


class _Watch:
    """Runs the trigger in the background; waits on what it observably did (scans, events), never on time."""

    def __init__(self, landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.trigger = _triggers().LandingFilesTrigger(directory=str(landing), poke_interval=0.01)
        self.scans = 0
        self.events: list[dict] = []

        triggers = _triggers()
        scan = triggers.newest_files

        def counted(directory):
            found = scan(directory)
            self.scans += 1
            return found

        monkeypatch.setattr(triggers, "newest_files", counted)

    async def __aenter__(self) -> _Watch:
        async def collect() -> None:
            async for event in self.trigger.run():
                self.events.append(event.payload)

        self.task = asyncio.create_task(collect())
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def scans_done(self, more: int) -> None:
        """Wait until the trigger finished `more` further scans (and yielded what they found)."""
        target = self.scans + more
        async with asyncio.timeout(60):
            while self.scans < target:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let the last scan's event reach the collector


def test_newest_file_per_partition_ignores_temp_files(tmp_path: Path) -> None:
    newest_files = _triggers().newest_files
    _land(tmp_path, "cx.touchpoints", 0, 0, 9)
    _land(tmp_path, "cx.touchpoints", 0, 10, 19)
    _land(tmp_path, "cx.touchpoints", 0, 20, 29, temp=True)
    _land(tmp_path, "cx.surveys", 2, 100, 100)
    assert newest_files(tmp_path) == {
        "cx.touchpoints/0": f"{10:020d}-{19:020d}.parquet",
        "cx.surveys/2": f"{100:020d}-{100:020d}.parquet",
    }
    assert newest_files(tmp_path / "missing") == {}


def test_fires_once_per_new_file_and_not_for_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> list[list[str]]:
        async with _Watch(tmp_path, monkeypatch) as watch:
            await watch.scans_done(2)  # empty landing: nothing to load
            _land(tmp_path, "cx.touchpoints", 1, 0, 4)
            await watch.scans_done(3)  # one event, then the same file again: no second event
            _land(tmp_path, "cx.touchpoints", 1, 5, 9, temp=True)  # not durable yet
            await watch.scans_done(2)
            _land(tmp_path, "cx.surveys", 0, 0, 0)
            await watch.scans_done(2)
            return [e["partitions"] for e in watch.events]

    assert asyncio.run(scenario()) == [["cx.touchpoints/1"], ["cx.surveys/0"]]


def test_first_scan_fires_for_files_landed_while_nobody_watched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _land(tmp_path, "cx.touchpoints", 0, 0, 9)

    async def scenario() -> list[list[str]]:
        async with _Watch(tmp_path, monkeypatch) as watch:
            await watch.scans_done(3)
            return [e["partitions"] for e in watch.events]

    assert asyncio.run(scenario()) == [["cx.touchpoints/0"]]


def test_serializes_to_its_own_import_path() -> None:
    trigger_class = _triggers().LandingFilesTrigger
    classpath, kwargs = trigger_class(directory="/data/landing", poke_interval=3).serialize()
    module, _, name = classpath.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is trigger_class
    assert kwargs == {"directory": "/data/landing", "poke_interval": 3}
