"""Alert lifecycle rules that the simulations do not reach: cooldown and target breaches once per period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from quality import alerts
from quality.check import _target_breaches
from streams import alert_contract
from tests.builders import finding
from warehouse.db import connect

T0 = datetime(2026, 3, 16, 6, tzinfo=UTC)


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = connect(tmp_path / "cx.duckdb")
    yield connection
    connection.close()


def shift(key: str = "nps_shift|nps|channel:chat") -> alerts.Candidate:
    return finding(moved=(30.0, 15.0, 300, 1200), at=T0, p_value=0.0001, dedupe_key=key)


def test_cooldown_keeps_a_flapping_kpi_quiet_for_a_day(con) -> None:
    first = alerts.apply(con, [shift()], T0, {"nps_shift"})
    assert len(first.opened) == 1
    assert alerts.apply(con, [], T0 + timedelta(hours=1), {"nps_shift"}).resolved == first.opened
    # back out of band 5 hours after resolving: within the 24 h cooldown, no new alert
    assert alerts.apply(con, [shift()], T0 + timedelta(hours=6), {"nps_shift"}).opened == []
    # a day after the resolution it may fire again, as a new alert
    again = alerts.apply(con, [shift()], T0 + timedelta(hours=26), {"nps_shift"})
    assert len(again.opened) == 1 and again.opened != first.opened
    assert con.execute("select count(*), count(*) filter (where status = 'open') from marts.alerts").fetchall() == [
        (2, 1)
    ]


def test_rules_not_managed_by_a_run_are_left_alone(con) -> None:
    alerts.apply(con, [shift()], T0, {"nps_shift"})
    changes = alerts.apply(con, [], T0, {"csat_shift"})
    assert changes.resolved == []


def dashboard(con, rows: list[tuple]) -> None:
    con.execute("""create or replace table marts.progress_dashboard (period_type varchar, period_start date,
                   kpi varchar, scope varchar, label_en varchar, label_fr varchar, value double, target double,
                   n bigint, unit varchar, previous_value double, status varchar)""")
    con.executemany("insert into marts.progress_dashboard values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def test_target_breach_once_per_period(con) -> None:
    red = (
        "week",
        date(2026, 3, 16),
        "answer_rate",
        "all",
        "Answer rate",
        "Taux de décroché",
        0.80,
        0.90,
        500,
        "ratio",
        0.91,
        "red",
    )
    old_red = (
        "week",
        date(2026, 3, 9),
        "service_level",
        "all",
        "Service level",
        "Niveau de service",
        0.5,
        0.8,
        500,
        "ratio",
        None,
        "red",
    )
    green = ("week", date(2026, 3, 16), "fcr_rate", "all", "FCR", "RPC", 0.8, 0.75, 500, "ratio", None, "green")
    dashboard(con, [red, old_red, green])
    candidates = _target_breaches(con, T0)
    assert [c.dedupe_key for c in candidates] == ["target_breach|answer_rate|all|week|2026-03-16"]
    assert "80.0 %" in candidates[0].message and "target 90.0 %" in candidates[0].message
    assert "Taux de décroché" in candidates[0].message_fr
    first = alerts.apply(con, candidates, T0, {"target_breach"})
    rerun = alerts.apply(
        con, _target_breaches(con, T0 + timedelta(hours=3)), T0 + timedelta(hours=3), {"target_breach"}
    )
    assert len(first.opened) == 1 and rerun.opened == [] and rerun.refreshed == first.opened
    # next week still red: a new alert for the new period, the previous one resolves
    dashboard(con, [red, (*red[:1], date(2026, 3, 23), *red[2:])])
    later = T0 + timedelta(days=7)
    nxt = alerts.apply(con, _target_breaches(con, later), later, {"target_breach"})
    assert len(nxt.opened) == 1 and nxt.resolved == first.opened


def test_targets_go_to_one_digest_per_completed_period_and_history_is_not_notified(con) -> None:
    from quality import notifications

    con.execute("""create or replace table marts.progress_dashboard (period_type varchar, period_start date,
                   kpi varchar, scope varchar, label_en varchar, label_fr varchar, value double, target double,
                   n bigint, unit varchar, trend varchar, status varchar)""")

    def week(start: date, kpi: str, status: str, value: float = 0.8) -> tuple:
        return ("week", start, kpi, "all", kpi, kpi, value, 0.9, 500, "ratio", "down", status)

    rows = [
        week(date(2026, 2, 23), "answer_rate", "green", 0.95),
        week(date(2026, 3, 2), "answer_rate", "red"),
        week(date(2026, 3, 9), "answer_rate", "red"),
        week(date(2026, 3, 9), "service_level", "red"),
        week(date(2026, 3, 9), "fcr_rate", "green", 0.95),
    ]
    con.executemany("insert into marts.progress_dashboard values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    # first run of a new warehouse, Monday 16 March: the week of the 9th is complete, but it is history
    assert notifications.record_digests(con, T0, history=True) == ["digest|week|2026-03-09"]
    assert con.execute("select delivery_status from marts.notifications").fetchall() == [("skipped",)]
    # a week later the week of the 16th completes: one digest for it, two KPIs red, once
    con.executemany(
        "insert into marts.progress_dashboard values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [week(date(2026, 3, 16), "answer_rate", "red"), week(date(2026, 3, 16), "service_level", "red")],
    )
    later = T0 + timedelta(days=7)
    assert notifications.record_digests(con, later, history=False) == ["digest|week|2026-03-16"]
    notifications.record_digests(con, later + timedelta(hours=1), history=False)  # a rerun: no second digest
    pending = con.execute(
        "select payload, message from marts.notifications where delivery_status = 'pending'"
    ).fetchall()
    assert len(pending) == 1
    digest = alert_contract.decode(pending[0][0].encode())
    assert isinstance(digest, alert_contract.TargetDigest) and digest.period_start == "2026-03-16"
    since = {item.kpi: item.red_since for item in digest.items}
    assert since == {"answer_rate": "2026-03-02", "service_level": "2026-03-09"}  # red since, uninterrupted
    assert "2 KPI(s) red" in pending[0][1] and "red since 2026-03-02" in pending[0][1]
