"""Owner-only files: personal data (landing, quarantine, warehouse, snapshot) is 0600 in 0700 folders,
whatever the umask; exports and reports follow config aggregates_readable_by."""

from __future__ import annotations

import dataclasses
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxpulse.config import Settings, to_env
from cxpulse.files import secure_home
from streams.contracts import decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from tests.sample import generate


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    previous = os.umask(0o022)  # what most shells have: files 0644, folders 0755
    yield
    os.umask(previous)


def land(settings: Settings) -> None:
    messages = generate(customers=150, seed=9, with_malformed=False, duplicate_rate=0).touchpoints
    offsets = list(range(len(messages)))
    events = [decode_touchpoint(m, datetime.now(UTC)) for m in messages]
    write_durably(
        events_table("touchpoints", events, messages, offsets, "cx.touchpoints", 0),
        batch_path(settings.landing_dir, "cx.touchpoints", 0, 0, offsets[-1]),
    )


def test_landing_files_and_their_folders_are_owner_only_whatever_the_umask(tmp_path: Path, open_umask) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path / "home")
    land(settings)
    (path,) = settings.landing_dir.rglob("*.parquet")
    assert mode(path) == 0o600
    for folder in (settings.home, settings.landing_dir, path.parent.parent, path.parent):
        assert mode(folder) == 0o700, folder


def test_secure_home_fixes_existing_folders_but_never_a_shared_sticky_one(tmp_path: Path, open_umask) -> None:
    home = tmp_path / "home"
    (home / "landing").mkdir(parents=True)
    os.chmod(home, 0o755)
    os.chmod(home / "landing", 0o755)
    secure_home(dataclasses.replace(Settings(), home=home, aggregates_readable_by="group"))
    assert mode(home) == 0o710  # the group may reach exports/ and reports/, not list the home
    assert mode(home / "landing") == mode(home / "warehouse") == mode(home / "published") == 0o700
    assert mode(home / "exports") == mode(home / "reports") == 0o750

    shared = tmp_path / "shared"  # e.g. CXPULSE_HOME=/tmp
    shared.mkdir()
    os.chmod(shared, 0o1777)
    secure_home(dataclasses.replace(Settings(), home=shared))
    assert mode(shared) == 0o1777 and mode(shared / "landing") == 0o700


def test_after_a_run_personal_data_is_owner_only_and_aggregates_are_shared_as_configured(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        Settings(), home=tmp_path / "home", kafka_bootstrap="localhost:1", aggregates_readable_by="group"
    )
    land(settings)
    done = subprocess.run(
        [sys.executable, "-m", "cxpulse.cli", "run"],
        env={**os.environ, **to_env(settings)},
        capture_output=True,
        text=True,
        timeout=400,
        preexec_fn=lambda: os.umask(0o022),  # the child starts with an open umask
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert mode(settings.home) == 0o710
    private = [settings.landing_dir, settings.quarantine_dir, settings.warehouse_path.parent]
    private.append(settings.published_path.parent)
    files = 0
    for root in private:
        for path in [root, *root.rglob("*")]:
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
            files += path.is_file()
    assert settings.warehouse_path.is_file() and settings.published_path.is_file() and files >= 3
    shared = [p for root in (settings.exports_dir, settings.reports_dir) for p in [root, *root.rglob("*")]]
    assert any(p.suffix == ".parquet" for p in shared) and any(p.name == "dashboard.html" for p in shared)
    for path in shared:
        assert mode(path) == (0o750 if path.is_dir() else 0o640), path
