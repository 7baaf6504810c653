"""`cxpulse incidents ack|snooze`: who, when and why recorded, shown in `cxpulse incidents [--fr]`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxpulse.cli import app
from quality import incidents
from tests.builders import incident
from warehouse.db import connect

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CXPULSE_HOME", str(tmp_path))
    monkeypatch.setenv("CXPULSE_USER", "alice")
    path = tmp_path / "warehouse" / "cx.duckdb"
    path.parent.mkdir(parents=True)
    con = connect(path)
    incidents.ensure_table(con)
    opened = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)
    headline = "Net Promoter Score −15.0 points on the phone channel"
    headline_fr = "Net Promoter Score −15,0 points sur le canal téléphone"
    incident_id = "3f2a9c01-0000-5000-8000-000000000001"
    incidents._insert(
        con,
        incident(incident_id, at=opened, root_scope="channel:phone", explained_share=0.87, alerts=3,
                 headline=headline, headline_fr=headline_fr),
    )  # fmt: skip
    con.close()
    return tmp_path


def test_ack_is_recorded_with_who_and_why_and_shown_in_both_languages(home: Path) -> None:
    result = runner.invoke(app, ["incidents", "ack", "3f2a9c01", "--note", "ticket INC-4411"])
    assert result.exit_code == 0, result.output
    assert "acknowledged by alice" in result.output
    (line,) = (home / "incident_actions.jsonl").read_text().splitlines()
    action = json.loads(line)
    assert (action["incident_id"], action["action"], action["done_by"], action["note"]) == (
        "3f2a9c01-0000-5000-8000-000000000001",
        "ack",
        "alice",
        "ticket INC-4411",
    )
    listed = runner.invoke(app, ["incidents"])
    assert listed.exit_code == 0, listed.output
    assert "3f2a9c01" in listed.output and "follow-up" in listed.output
    assert "acknowledged by alice" in listed.output and "ticket INC-4411" in listed.output
    french = runner.invoke(app, ["incidents", "--fr"])
    assert "suivi" in french.output and "pris en charge par alice" in french.output
    assert "canal téléphone" in french.output and "gravité" in french.output and "critique" in french.output
    assert "02/03/2026 à 08:15" in french.output


def test_snooze_wants_a_future_date_and_names_who(home: Path) -> None:
    past = runner.invoke(app, ["incidents", "snooze", "3f2a9c01", "--until", "2020-01-01"])
    assert past.exit_code == 1 and "--until must be a date after today" in past.output
    bad = runner.invoke(app, ["incidents", "snooze", "3f2a9c01", "--until", "next monday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    until = (date.today() + timedelta(days=3)).isoformat()
    ok = runner.invoke(app, ["incidents", "snooze", "3f2a", "--until", until, "--by", "bruno", "--note", "fix lundi"])
    assert ok.exit_code == 0, ok.output
    assert f"snoozed until {until} (bruno): fix lundi" in ok.output
    unknown = runner.invoke(app, ["incidents", "ack", "deadbeef"])
    assert unknown.exit_code == 1 and "no incident 'deadbeef'" in unknown.output
