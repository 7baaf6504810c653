"""`cxpulse airflow stop` waits for the components' process groups to end: a group whose processes have
exited but are not reaped yet (zombies) counts as ended, instead of holding the stop for its whole timeout."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from cxpulse.airflow_service import _group_alive

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_group_of_zombies_is_not_alive_and_a_running_group_is() -> None:
    exited = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _state(exited.pid) != "Z":  # exited, not reaped: we have not waited for it
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        assert not _group_alive(exited.pid)
        assert _group_alive(running.pid)
    finally:
        running.kill()
        running.wait()
        exited.wait()
    assert not _group_alive(running.pid)
