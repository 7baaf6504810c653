"""People's side of incidents: acknowledge, snooze, and what that changes in what they are told."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import msgspec
import pytest

from cxpulse.config import Settings
from quality import alerts, incidents, lifecycle
from quality.drift import RULES, Windows, detect
from quality.sinks import deliver_pending
from streams import alert_contract
from streams.alert_contract import Incident
from tests.builders import incident, staged_warehouse
from tests.quality.test_incidents import START, simulate
from tests.quality.test_sinks import FakeProducer

MANAGED = set(RULES.values())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), home=tmp_path)


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    yield from staged_warehouse(settings.home / "cx.duckdb")


def run(con, settings: Settings, day: float) -> list[incidents.Transition]:
    """The drift part of a quality run at START + day, as quality.check runs it."""
    as_of = START + timedelta(days=day)
    windows = Windows.ending(as_of, 7, 28)
    findings = detect(con, settings, windows)
    alerts.apply(con, alerts.shift_candidates(findings, None), as_of, MANAGED)
    return lifecycle.notify(con, settings, windows, findings, as_of)


def told(con) -> list[tuple[str, str, str | None]]:
    return con.execute(
        "select event, delivery_status, delivery_error from marts.notifications order by created_at, event"
    ).fetchall()


def test_an_acknowledged_incident_resolves_quietly(con, settings) -> None:
    simulate(con, seed=3, days=130, drop={"channel": "chat", "from_day": 83, "to_day": 90, "points": 25})
    (opened,) = run(con, settings, 90)
    at = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
    lifecycle.record(settings, opened.incident, "ack", by="alice", note="chat vendor ticket INC-4411", at=at)
    assert run(con, settings, 90) == []  # rerun: nothing new, the action copied once
    assert con.execute("select done_by, note from marts.incident_actions").fetchall() == [
        ("alice", "chat vendor ticket INC-4411")
    ]
    (resolved,) = run(con, settings, 130)
    assert resolved.event == "resolved"
    assert told(con) == [
        ("opened", "pending", None),
        ("resolved", "suppressed", "acknowledged by alice at 2026-04-01T09:30:00+00:00"),
    ]
    producer = FakeProducer()
    assert deliver_pending(con, settings, producer=producer) == {"delivered": 1, "failed": 0}
    (sent,) = [alert_contract.decode(value) for _, value in producer.sent]  # the opening only
    assert (sent.event, sent.incident.incident_id) == ("opened", opened.incident.incident_id)
    assert told(con)[1][1] == "suppressed"


def test_an_acknowledged_incident_that_worsens_is_told(con, settings) -> None:
    """Same data as test_incidents' worsening case: warning on day 86, critical on day 90."""
    simulate(con, seed=4, per_day=2500, drop={"channel": "chat", "from_day": 83, "points": 15})
    (opened,) = run(con, settings, 86)
    assert opened.incident.severity == "warning"
    lifecycle.record(settings, opened.incident, "ack", by="bob", at=START + timedelta(days=86, hours=1))
    (worse,) = run(con, settings, 90)
    assert (worse.event, worse.previous_severity) == ("severity_changed", "warning")
    assert worse.incident.severity == "critical"
    assert told(con) == [("opened", "pending", None), ("severity_changed", "pending", None)]


def test_a_snooze_keeps_quiet_until_its_date_then_tells_once_more(con, settings) -> None:
    simulate(con, seed=1, drop={"channel": "chat", "from_day": 83, "points": 15})
    (opened,) = run(con, settings, 88)
    until = (START + timedelta(days=89)).date()  # 2026-03-31
    lifecycle.record(settings, opened.incident, "snooze", by="chloé", until=until, today=date(2026, 3, 30))
    assert run(con, settings, 88.5) == []  # still snoozed, nothing moved
    (reminder,) = run(con, settings, 89.25)  # the snooze ended at midnight
    assert (reminder.event, reminder.incident.incident_id) == ("snooze_ended", opened.incident.incident_id)
    assert run(con, settings, 89.5) == []  # told once
    message_fr = con.execute("select message_fr from marts.notifications where event = 'snooze_ended'").fetchall()
    assert message_fr[0][0].startswith("Toujours ouvert à la fin de sa mise en pause [critique] Net Promoter Score")
    assert [e for e, _, _ in told(con)] == ["opened", "snooze_ended"]


def test_a_snoozed_incident_resolves_quietly(con, settings) -> None:
    simulate(con, seed=3, days=130, drop={"channel": "chat", "from_day": 83, "to_day": 90, "points": 25})
    (opened,) = run(con, settings, 90)
    lifecycle.record(settings, opened.incident, "snooze", by="dan", until=date(2026, 6, 1), today=date(2026, 4, 1))
    run(con, settings, 130)
    assert told(con)[-1] == ("resolved", "suppressed", "snoozed until 2026-06-01 by dan")


def _incident(incident_id: str, severity: str = "warning", status: str = "open") -> Incident:
    return incident(incident_id, at=datetime(2026, 3, 1, tzinfo=UTC), severity=severity, status=status)


def _action(incident_id: str, action: str, at: datetime, until: date | None = None) -> lifecycle.Action:
    return lifecycle.Action(action_id=f"{incident_id}-{action}-{at}", incident_id=incident_id, action=action,
                            done_by="eve", done_at=at, until=until)  # fmt: skip


def test_quiet_unless_worse_and_a_snooze_ends_at_the_start_of_its_date_in_the_reporting_zone() -> None:
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    standing = lifecycle.standings(
        None,
        [_action("a", "ack", t0), _action("s", "snooze", t0, date(2026, 3, 10))],
    )
    down = incidents.Transition("severity_changed", _incident("a", "warning"), [], "critical")
    up = incidents.Transition("severity_changed", _incident("s", "critical"), [], "warning")
    resolved = incidents.Transition("resolved", _incident("s", status="resolved"), [])
    assert lifecycle.quiet([down, up], standing, t0, "UTC") == {"a": f"acknowledged by eve at {t0.isoformat()}"}
    # Europe/Paris: 10 March starts at 9 March 23:00 UTC
    just_before = datetime(2026, 3, 9, 22, 59, tzinfo=UTC)
    assert lifecycle.quiet([resolved], standing, just_before, "Europe/Paris") == {
        "s": "snoozed until 2026-03-10 by eve"
    }
    assert lifecycle.quiet([resolved], standing, just_before + timedelta(minutes=1), "Europe/Paris") == {}


def test_the_latest_action_of_each_kind_counts_and_describes_itself_in_both_languages() -> None:
    t0 = datetime(2026, 3, 1, 8, tzinfo=UTC)
    first = _action("a", "snooze", t0, date(2026, 3, 5))
    second = msgspec.structs.replace(_action("a", "snooze", t0 + timedelta(hours=1), date(2026, 3, 8)), note="gel")
    ack = msgspec.structs.replace(_action("a", "ack", t0), note="on s'en occupe")
    standing = lifecycle.standings(None, [second, first, ack])["a"]
    assert standing.snooze.until == date(2026, 3, 8)
    assert standing.describe() == (
        "acknowledged by eve on 2026-03-01: on s'en occupe; snoozed until 2026-03-08 (eve): gel"
    )
    assert standing.describe(True) == (
        "pris en charge par eve le 01/03/2026 : on s'en occupe ; en pause jusqu'au 08/03/2026 (eve) : gel"
    )
    after_the_snooze = datetime(2026, 3, 9, tzinfo=UTC)
    assert standing.describe(False, after_the_snooze) == "acknowledged by eve on 2026-03-01: on s'en occupe"


def test_actions_are_checked_durable_and_copied_once(con, settings) -> None:
    incidents.ensure_table(con)
    for one in (_incident("3f2a9c01-aaaa"), _incident("3f2a9c02-bbbb"), _incident("77777777", status="resolved")):
        incidents._insert(con, one)
    with pytest.raises(lifecycle.LifecycleError, match="ambiguous"):
        lifecycle.resolve_id(con, "3f2a")
    with pytest.raises(lifecycle.LifecycleError, match="no incident"):
        lifecycle.resolve_id(con, "abcdef")
    with pytest.raises(lifecycle.LifecycleError, match="too short"):
        lifecycle.resolve_id(con, "3f")
    target = lifecycle.resolve_id(con, "3F2A9C01")
    assert target.incident_id == "3f2a9c01-aaaa"
    with pytest.raises(lifecycle.LifecycleError, match="is resolved"):
        lifecycle.record(settings, lifecycle.resolve_id(con, "7777"), "ack", by="eve")
    with pytest.raises(lifecycle.LifecycleError, match="after today"):
        lifecycle.record(settings, target, "snooze", by="eve", until=date(2026, 3, 1), today=date(2026, 3, 1))
    lifecycle.record(settings, target, "ack", by="eve", note="  vu  ")
    lifecycle.record(settings, target, "snooze", by="eve", until=date(2026, 3, 9), today=date(2026, 3, 1))
    path = lifecycle.actions_path(settings)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(x["action"], x["done_by"], x["note"], x["until"]) for x in lines] == [
        ("ack", "eve", "vu", None),
        ("snooze", "eve", None, "2026-03-09"),
    ]
    assert path.stat().st_mode & 0o777 == 0o600
    assert lifecycle.sync(con, settings) == 2
    assert lifecycle.sync(con, settings) == 0
