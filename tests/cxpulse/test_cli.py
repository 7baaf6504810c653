"""The command line: examples in every --help, exit codes, errors that say what to do next."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cxpulse.cli import EXIT_BROKER, EXIT_CONFIG, app

runner = CliRunner()


def _commands() -> list[list[str]]:
    root = get_command(app)
    paths = []
    for name, command in root.commands.items():
        sub = getattr(command, "commands", None)
        paths.extend([[name, child] for child in sub] if sub else [[name]])
    return paths


def test_every_command_documents_an_example() -> None:
    commands = _commands()
    assert {"demo", "simulate", "consume", "status", "forget"} <= {c[0] for c in commands}
    for path in commands:
        if path[0] == "broker":
            continue  # start/stop/status take no argument worth an example, except start (below)
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"`cxpulse {' '.join(path)} --help` shows no example"
    assert "Example" in runner.invoke(app, ["broker", "start", "--help"]).output


def test_bad_config_value_exits_2_naming_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CXPULSE_LOG_LEVEL", "LOUD")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == EXIT_CONFIG
    assert "log_level" in result.output and "DEBUG, INFO, WARNING, ERROR" in result.output


def test_unknown_scenario_exits_2_listing_the_allowed_kinds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    result = runner.invoke(app, ["simulate", "--scenario", "meteor-strike:from=-7d", "--to", str(tmp_path / "out")])
    assert result.exit_code == EXIT_CONFIG
    assert "nps-drop" in result.output and "wait-spike" in result.output


def test_no_broker_exits_3_with_the_command_that_starts_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cxpulse.broker import free_port

    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CXPULSE_KAFKA_BOOTSTRAP", f"localhost:{free_port()}")
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"event_id": "e1", "customer_id": "c1"}\n')
    result = runner.invoke(app, ["produce", str(lines), "--topic", "cx.touchpoints"])
    assert result.exit_code == EXIT_BROKER
    assert "cxpulse broker start" in result.output


def test_status_before_any_run_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "cxpulse consume --until-idle" in result.output and "cxpulse run" in result.output
