"""`make lock` keeps every pin: a re-lock of an unchanged pyproject.toml gives back the same constraints.txt.

Runs the real target on copies (uv offline: from its cache, no network). pip, setuptools and orjson are in
no requirement of pyproject.toml; constraints-extra.in is what keeps them (a lock without it drops them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"


def pins(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("==", 1) for line in lines if line and not line.startswith("#"))


def test_a_relock_keeps_every_pin(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml", "constraints-extra.in", "constraints.txt"):
        shutil.copy(REPO / name, tmp_path / name)
    env = {**os.environ, "UV_OFFLINE": "1"}
    done = subprocess.run(
        ["make", "-C", str(tmp_path), "lock", f"BIN={BIN}"], env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0 and "network was disabled" in done.stderr:
        pytest.skip(f"uv's cache lacks a pinned package, and this test runs offline:\n{done.stderr}")
    assert done.returncode == 0, done.stderr
    before, after = pins(REPO / "constraints.txt"), pins(tmp_path / "constraints.txt")
    assert {"pip", "setuptools", "orjson"} <= after.keys()
    assert after == before
    assert (tmp_path / "constraints.txt").read_text() == (REPO / "constraints.txt").read_text()
