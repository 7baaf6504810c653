"""docs/operations.md, "Install into your Airflow", followed to the letter against a fresh Airflow
(its own AIRFLOW_HOME and SQLite metadata DB): the commands of the section run as written, then the
DAG bag and the pool are checked through the `airflow` CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def documented_commands() -> list[str]:
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Install into your Airflow", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the section has no bash block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_the_documented_install_gives_four_dags_unpaused_and_the_pool(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CXPULSE_"))}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),  # "your" Airflow: nothing of cxpulse in it yet
        CXPULSE_HOME=str(tmp_path / "cxpulse"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )

    def run(command: str) -> str:
        done = subprocess.run(["bash", "-ec", command], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
        return done.stdout

    run("airflow db migrate")  # an Airflow that already runs has its metadata DB
    commands = documented_commands()
    assert commands[0].startswith("pip install -c constraints.txt")
    for command in commands[1:]:  # cxpulse is already installed in this environment
        run(command)

    def listing(command: str) -> list[dict]:
        # Airflow logs (e.g. "Could not import graphviz") share stdout: the JSON is the last line
        return json.loads(run(f"{command} -o json").strip().splitlines()[-1])

    assert listing("airflow dags list-import-errors") == []
    dags = {d["dag_id"]: d for d in listing("airflow dags list")}
    assert set(dags) == {"cx_load", "cx_marts", "cx_quality", "cx_publish"}
    assert all(str(d["is_paused"]).lower() == "false" for d in dags.values()), dags
    (pool,) = listing("airflow pools get cx_warehouse")
    assert pool["pool"] == "cx_warehouse" and int(pool["slots"]) == 1
