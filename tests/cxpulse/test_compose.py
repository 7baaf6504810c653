"""docker-compose.yaml checked statically (no Docker engine here): services, commands, variables."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml
from typer.main import get_command

from cxpulse.cli import app
from cxpulse.config import Settings

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yaml").read_text())


def test_services_of_a_real_deployment() -> None:
    services = COMPOSE["services"]
    assert {
        "kafka",
        "consumer",
        "postgres",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    } <= set(services)
    for name, service in services.items():
        image = service.get("image", "")
        assert ":" in image and not image.endswith(":latest"), f"{name}: image not pinned"


def test_consumer_command_exists_in_the_cli() -> None:
    command = COMPOSE["services"]["consumer"]["command"]
    assert command[0] == "cxpulse"
    assert command[1] in get_command(app).commands


def test_cxpulse_variables_are_config_keys_and_secrets_are_not_inline() -> None:
    keys = {f"CXPULSE_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    text = (Path(__file__).resolve().parents[2] / "docker-compose.yaml").read_text()
    used = set(re.findall(r"\b(CXPULSE_[A-Z_]+)\b", text))
    assert used and used <= keys, used - keys
    assert re.search(r"POSTGRES_PASSWORD: \$\{POSTGRES_PASSWORD", text)
    assert "CXPULSE_ALERT_WEBHOOK: ${CXPULSE_ALERT_WEBHOOK" in text


def test_cxpulse_containers_run_as_one_non_root_user() -> None:
    services = COMPOSE["services"]
    users = {name: str(s.get("user", "")) for name, s in services.items() if "cx-data:/data" in s.get("volumes", [])}
    assert {"consumer", "airflow-scheduler", "airflow-api-server"} <= set(users)
    # one uid for every service sharing the volume: its files are owner-only (0600 in 0700 folders)
    assert set(users.values()) == {"50000:0"}, users
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
    for stage in stages:
        last_user = re.findall(r"^USER (\S+)", stage, flags=re.M)[-1]
        assert last_user.split(":")[0] not in ("root", "0"), stage.splitlines()[0]


def test_airflow_runs_the_commands_and_settings_of_cxpulse_airflow_start() -> None:
    from cxpulse.airflow_service import COMPONENTS, DEPLOYMENT_SETTINGS, SHARED_SETTINGS

    services = COMPOSE["services"]
    for component in COMPONENTS:
        service = services[f"airflow-{component}"]
        assert service["command"] == ["airflow", component]
        env = service["environment"]
        assert {k: env.get(k) for k in SHARED_SETTINGS} == SHARED_SETTINGS, component
        assert set(DEPLOYMENT_SETTINGS) <= set(env), component
        assert env["CXPULSE_HOME"] == services["consumer"]["environment"]["CXPULSE_HOME"]  # one data home
    # the pool comes from the project's own install step, as in `cxpulse airflow start`
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "cxpulse airflow install" in init
    assert "pools set" not in init
