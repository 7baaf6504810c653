"""Who may read what under the data home: personal data owner-only, aggregates as configured.

Landing and quarantine files, the live warehouse, the published snapshot, the local broker's log
and Airflow's home hold customer ids, payloads and verbatims (or can): their folders are 0700 and
their files 0600, whatever the process umask. exports/ and reports/ hold aggregates only; config
`aggregates_readable_by` (owner | group | all) opens them to a group or to everyone.
Modes are set explicitly where files are written; entry points also set umask 077 (as PostgreSQL
does) so that files written by libraries (DuckDB's WAL, Airflow's logs) are owner-only too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cxpulse.config import Settings

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# aggregates_readable_by -> (folder mode, file mode, what the data home needs so readers reach them)
_SHARED = {
    "owner": (0o700, 0o600, 0o700),
    "group": (0o750, 0o640, 0o710),  # the group may traverse the home, not list it
    "all": (0o755, 0o644, 0o711),
}


def owner_only_umask() -> None:
    """Files and folders this process creates from now on are owner-only unless chmod-ed open."""
    os.umask(0o077)


def make_private_dirs(folder: Path, mode: int = PRIVATE_DIR) -> Path:
    """mkdir -p where every folder created gets `mode` (Path.mkdir gives parents the umask's mode)."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=mode)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(path, mode)
    return folder


def make_private(path: Path) -> None:
    """chmod 0600 a file, if it exists."""
    try:
        os.chmod(path, PRIVATE_FILE)
    except FileNotFoundError:
        pass


def aggregate_modes(settings: Settings) -> tuple[int, int]:
    """(folder mode, file mode) of exports/ and reports/ for config aggregates_readable_by."""
    folder, file, _ = _SHARED[settings.aggregates_readable_by]
    return folder, file


def secure_home(settings: Settings) -> None:
    """Create the data home's folders with their modes, and fix the modes of existing ones.

    The home itself is chmod-ed only when it belongs to this user and is not a shared sticky folder
    such as /tmp (CXPULSE_HOME=/tmp must not lock everyone else out); the folders below it are ours.
    """
    home = settings.home
    folder_mode, _, home_mode = _SHARED[settings.aggregates_readable_by]
    created = not home.exists()
    make_private_dirs(home, home_mode)
    info = home.stat()
    if not created and info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX:
        os.chmod(home, home_mode)
    for folder in (
        settings.landing_dir,
        settings.quarantine_dir,
        settings.warehouse_path.parent,
        settings.published_path.parent,
    ):
        make_private_dirs(folder)
        os.chmod(folder, PRIVATE_DIR)
    for folder in (settings.kafka_dir, home / "airflow"):  # made by their own commands when used
        if folder.is_dir():
            os.chmod(folder, PRIVATE_DIR)
    for folder in (settings.exports_dir, settings.reports_dir):
        make_private_dirs(folder, folder_mode)
        os.chmod(folder, folder_mode)


def share_aggregates(settings: Settings) -> None:
    """Apply aggregates_readable_by to everything under exports/ and reports/ (written by several steps)."""
    folder_mode, file_mode = aggregate_modes(settings)
    for root in (settings.exports_dir, settings.reports_dir):
        if not root.is_dir():
            continue
        os.chmod(root, folder_mode)
        for path in root.rglob("*"):
            if path.is_symlink():
                continue
            os.chmod(path, folder_mode if path.is_dir() else file_mode)
