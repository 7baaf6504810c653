"""Quality gates on a real DuckDB warehouse with real Great Expectations: a clean warehouse passes, and
each kind of breakage fails with one readable line naming the suite and the column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import duckdb
import pytest

from cxpulse.config import Settings
from quality.gates import GateResult, run_gates
from tests.builders import built_warehouse
from transforms.runner import build
from warehouse.db import connect

NEWEST = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)
AS_OF = NEWEST + timedelta(hours=1)
_ids = count(1)

TOUCHPOINT_COLUMNS = (
    "event_id, event_type, occurred_at, customer_id, channel, touchpoint, contact_id, outcome, wait_s, "
    "talk_s, hold_s, acw_s, reason, case_id, is_complaint, category, handle_s, compensation_eur, "
    "step_status, duration_s"
)
SURVEY_COLUMNS = ", ".join(
    ("response_id", "occurred_at", "customer_id", "channel", "touchpoint", "survey")
    + ("nps", "csat", "ces", "expected", "emotion")
)


def touchpoint(con: duckdb.DuckDBPyConnection, kind: str, at: str, event_id: str | None = None, **f) -> None:
    values = [
        event_id or f"e-{next(_ids)}",
        kind,
        at,
        f.get("customer", "C1"),
        f.get("channel", "phone"),
        f.get("touchpoint", "billing_hotline"),
        f.get("contact_id"),
        f.get("outcome"),
        f.get("wait_s"),
        f.get("talk_s"),
        f.get("hold_s"),
        f.get("acw_s"),
        f.get("reason"),
        f.get("case_id"),
        f.get("is_complaint"),
        f.get("category"),
        f.get("handle_s"),
        f.get("compensation_eur"),
        f.get("step_status"),
        f.get("duration_s"),
    ]
    con.execute(
        f"insert into raw.touchpoints ({TOUCHPOINT_COLUMNS}, payload, kafka_topic, kafka_partition, "
        "kafka_offset, "
        f"loaded_at) values ({', '.join('?' * len(values))}, '{{}}', 't', 0, {next(_ids)}, now())",
        values,
    ).fetchall()
    mark_dirty(con, at)


def survey(con: duckdb.DuckDBPyConnection, at: str, **scores) -> None:
    values = [
        f"r-{next(_ids)}",
        at,
        "C1",
        scores.pop("channel", "phone"),
        "billing_hotline",
        "post_contact",
        *(scores.get(k) for k in ("nps", "csat", "ces", "expected", "emotion")),
    ]
    con.execute(
        f"insert into raw.surveys ({SURVEY_COLUMNS}, payload, kafka_topic, kafka_partition, kafka_offset, "
        f"loaded_at) values ({', '.join('?' * len(values))}, '{{}}', 't', 0, {next(_ids)}, now())",
        values,
    ).fetchall()
    mark_dirty(con, at)


def mark_dirty(con: duckdb.DuckDBPyConnection, at: str) -> None:
    con.execute("insert or ignore into ops.dirty_days select cast(cast(? as timestamptz) as date)", [at])
    con.fetchall()


def load_clean(con: duckdb.DuckDBPyConnection) -> None:
    contact = {"channel": "phone", "touchpoint": "billing_hotline", "reason": "billing"}
    touchpoint(
        con,
        "contact",
        "2026-03-09T08:00:00Z",
        contact_id="k1",
        outcome="answered",
        wait_s=10,
        talk_s=100,
        hold_s=0,
        acw_s=20,
        **contact,
    )
    touchpoint(
        con,
        "contact",
        "2026-03-09T09:00:00Z",
        customer="C2",
        contact_id="k2",
        outcome="abandoned",
        wait_s=50,
        **contact,
    )
    touchpoint(
        con,
        "contact",
        "2026-03-10T09:00:00Z",
        customer="C3",
        channel="chat",
        touchpoint="web_chat",
        contact_id="k3",
        outcome="answered",
        wait_s=5,
        talk_s=60,
        reason="delivery",
    )
    case = {"customer": "C4", "channel": "email", "touchpoint": "contact_form", "case_id": "K1"}
    touchpoint(
        con,
        "case_opened",
        "2026-03-09T10:00:00Z",
        reason="billing",
        is_complaint=True,
        category="billing_error",
        **case,
    )
    touchpoint(con, "case_replied", "2026-03-09T12:00:00Z", handle_s=600, **case)
    touchpoint(con, "case_resolved", "2026-03-10T10:00:00Z", handle_s=900, compensation_eur=20, **case)
    touchpoint(con, "case_reopened", "2026-03-10T11:00:00Z", **case)
    touchpoint(
        con,
        "journey_step",
        NEWEST.isoformat(),
        channel="web",
        touchpoint="checkout",
        step_status="ok",
        duration_s=30,
    )
    survey(con, "2026-03-09T10:00:00Z", nps=10, csat=5, ces=7, expected=4, emotion="joy")
    survey(con, "2026-03-09T11:00:00Z", nps=3, csat=2, ces=2, expected=4, emotion="anger")
    survey(con, "2026-03-10T11:00:00Z", channel="chat", nps=8, ces=5)


@pytest.fixture
def con(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from built_warehouse(settings, load_clean)


def failing(result: GateResult, *needles: str) -> list[str]:
    """The failure lines that contain every needle."""
    return [line for line in result.failures if all(n in line for n in needles)]


def test_clean_warehouse_passes_and_writes_the_report(con, settings: Settings) -> None:
    result = run_gates(con, settings, as_of=AS_OF)
    assert result.failures == []
    assert result.passed
    assert result.report_path == settings.reports_dir / "quality" / "gates-20260310T170000Z.json"
    report = json.loads(result.report_path.read_text())
    assert report["passed"] is True and report["skipped"] == []
    suites = {v["suite_name"] for v in report["validations"]}
    assert {"raw.touchpoints", "raw.surveys", "marts.kpi_service_daily", "marts.complaints_pareto"} <= suites
    assert all(v["success"] for v in report["validations"])
    # the marts were not empty: the checks really looked at rows
    service = next(v for v in report["validations"] if v["suite_name"] == "marts.kpi_service_daily")
    assert service["meta"]["rows_validated"] > 0 and service["statistics"]["evaluated_expectations"] >= 6


def test_duplicated_event_id_fails(con, settings: Settings) -> None:
    existing = con.execute("select min(event_id) from raw.touchpoints").fetchall()[0][0]
    touchpoint(
        con,
        "journey_step",
        "2026-03-10T15:00:00Z",
        event_id=existing,
        channel="web",
        touchpoint="checkout",
        step_status="ok",
    )
    result = run_gates(con, settings, as_of=AS_OF)
    assert not result.passed
    lines = failing(result, "raw.touchpoints", "event_id")
    assert len(lines) == 1 and "observed 1" in lines[0], result.failures
    assert result.failures == lines


def test_nps_out_of_range_fails(con, settings: Settings) -> None:
    # the table allows it (smallint); only the contract and the gate do not
    survey(con, "2026-03-10T12:00:00Z", nps=11)
    result = run_gates(con, settings, as_of=AS_OF)
    assert not result.passed
    lines = failing(result, "raw.surveys", "nps", "[0, 10]")
    assert len(lines) == 1 and "1 of 4 rows unexpected" in lines[0] and "11" in lines[0], result.failures


def test_stale_newest_event_fails(con, settings: Settings) -> None:
    result = run_gates(con, settings, as_of=NEWEST + timedelta(days=10), max_age_hours=48)
    assert not result.passed
    lines = failing(result, "raw.touchpoints", "occurred_at", "freshness")
    assert len(lines) == 1 and "2026-03-10" in lines[0], result.failures
    assert result.failures == lines
    # within the allowed age it passes again
    assert run_gates(con, settings, as_of=NEWEST + timedelta(hours=47), max_age_hours=48).passed


def test_corrupted_mart_row_fails(con, settings: Settings) -> None:
    con.execute("update marts.kpi_service_daily set answer_rate = 1.5 where channel = 'phone'").fetchall()
    result = run_gates(con, settings, as_of=AS_OF)
    assert not result.passed
    lines = failing(result, "marts.kpi_service_daily", "answer_rate", "1.5")
    assert len(lines) == 1, result.failures
    assert result.failures == lines


def test_inconsistent_counts_fail(con, settings: Settings) -> None:
    con.execute("update marts.kpi_service_daily set answered = answered + 1 where channel = 'all'").fetchall()
    con.execute("update marts.kpi_experience_daily set promoters = promoters + 1 where channel = 'all'")
    con.fetchall()
    result = run_gates(con, settings, as_of=AS_OF)
    assert failing(result, "marts.kpi_service_daily", "offered vs answered_plus_abandoned"), result.failures
    experience = failing(result, "marts.kpi_experience_daily", "nps_n vs promoters_passives_detractors")
    assert experience, result.failures


def test_duplicated_mart_grain_fails(con, settings: Settings) -> None:
    con.execute("insert into marts.kpi_cases_daily by name select * from marts.kpi_cases_daily limit 1")
    con.fetchall()
    result = run_gates(con, settings, as_of=AS_OF)
    assert failing(result, "marts.kpi_cases_daily", "(day, channel)"), result.failures


def test_empty_warehouse_passes_without_freshness(settings: Settings) -> None:
    connection = connect(settings.warehouse_path)
    try:
        build(connection, settings)
        result = run_gates(connection, settings, as_of=AS_OF)
    finally:
        connection.close()
    assert result.passed, result.failures
    report = json.loads(result.report_path.read_text())
    assert report["skipped"] == [{"suite": "raw.touchpoints", "check": "freshness", "reason": "empty table"}]
