"""KPI marts against a hand-made fixture. Every expected number is worked out by hand in the comments
and literals below, from the events inserted here, never read back from the SQL."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import duckdb
import pytest

from cxpulse.config import Settings
from tests.builders import built_warehouse
from transforms import catalogue
from transforms.runner import SchemaTestError, build, run_schema_tests
from warehouse.db import connect

TP_DEFAULTS = {
    "journey": None,
    "segment": None,
    "contact_id": None,
    "outcome": None,
    "wait_s": None,
    "talk_s": None,
    "hold_s": None,
    "acw_s": None,
    "reason": None,
    "agent_id": None,
    "case_id": None,
    "is_complaint": None,
    "category": None,
    "handle_s": None,
    "compensation_eur": None,
    "step_status": None,
    "duration_s": None,
}
SURVEY_DEFAULTS = {
    "journey": None,
    "segment": None,
    "survey": "post_contact",
    "contact_id": None,
    "case_id": None,
    "nps": None,
    "csat": None,
    "ces": None,
    "expected": None,
    "emotion": None,
    "verbatim": None,
    "language": None,
}
_counter = iter(range(1, 10**9))


def insert(con: duckdb.DuckDBPyConnection, table: str, **row: object) -> None:
    row = {**(TP_DEFAULTS if table == "raw.touchpoints" else SURVEY_DEFAULTS), **row}
    row.setdefault("event_id" if table == "raw.touchpoints" else "response_id", f"id-{next(_counter)}")
    row |= {"payload": "{}", "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": next(_counter)}
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    con.execute(f"insert into {table} ({names}, loaded_at) values ({marks}, now())", list(row.values()))
    day = con.execute("select cast(cast(? as timestamptz) as date)", [row["occurred_at"]]).fetchall()[0][0]
    con.execute("insert or ignore into ops.dirty_days values (?)", [day])


def event(con, event_type: str, at: str, customer: str, channel: str, touchpoint: str, **fields) -> None:
    """A row of raw.touchpoints: its common fields, then the fields of its event type."""
    insert(con, "raw.touchpoints", event_type=event_type, occurred_at=at, customer_id=customer, channel=channel,
           touchpoint=touchpoint, **fields)  # fmt: skip


def contact(con, at: str, customer: str, channel: str, queue: str, outcome: str, wait: float, reason: str,
            talk: float | None = None, hold: float | None = None, acw: float | None = None) -> None:  # fmt: skip
    event(con, "contact", at, customer, channel, queue, contact_id=f"k-{next(_counter)}", outcome=outcome,
          wait_s=wait, reason=reason, talk_s=talk, hold_s=hold, acw_s=acw)  # fmt: skip


def case(con, event_type: str, at: str, customer: str, case_id: str, channel: str = "email", **extra) -> None:
    event(con, event_type, at, customer, channel, "contact_form", case_id=case_id, **extra)


def complaint(con, at: str, customer: str, case_id: str, reason: str, category: str, channel: str = "email") -> None:
    """A case_opened that is a complaint."""
    case(con, "case_opened", at, customer, case_id, channel, reason=reason, is_complaint=True, category=category)


def survey(con, at: str, channel: str, touchpoint: str, **scores) -> None:
    insert(con, "raw.surveys", occurred_at=at, customer_id="s", channel=channel, touchpoint=touchpoint, **scores)


def load_fixture(con: duckdb.DuckDBPyConnection) -> None:
    # 2026-03-09 (a Monday), phone queue billing_hotline
    contact(con, "2026-03-09T08:00:00Z", "A", "phone", "billing_hotline", "answered", 10, "billing", 100, 20, 30)
    contact(con, "2026-03-09T09:00:00Z", "B", "phone", "billing_hotline", "answered", 30, "tech", 200, 0, 40)
    contact(con, "2026-03-09T10:00:00Z", "C", "phone", "billing_hotline", "abandoned", 50, "billing")
    contact(con, "2026-03-09T11:00:00Z", "D", "phone", "billing_hotline", "answered", 20, "billing", 60, 0, 0)
    # chat queue web_chat
    contact(con, "2026-03-09T12:00:00Z", "E", "chat", "web_chat", "answered", 5, "delivery", 300, 0, 60)
    contact(con, "2026-03-09T13:00:00Z", "F", "chat", "web_chat", "abandoned", 100, "delivery")
    contact(con, "2026-03-09T15:00:00Z", "E", "chat", "web_chat", "answered", 8, "other", 100, 0, 0)
    # 2026-03-11: only an abandoned contact (rates 0, means NULL)
    contact(con, "2026-03-11T10:00:00Z", "G", "phone", "billing_hotline", "abandoned", 40, "billing")
    # 2026-03-16: A again exactly 7 x 24 h after its first contact (a repeat), B 7 x 24 h + 1 s later (not)
    contact(con, "2026-03-16T08:00:00Z", "A", "phone", "billing_hotline", "answered", 15, "billing", 100, 0, 0)
    contact(con, "2026-03-16T09:00:01Z", "B", "phone", "billing_hotline", "answered", 25, "tech", 50, 0, 10)
    # 2026-04-05: a contact whose repeat window is still open at the end of the data
    contact(con, "2026-04-05T10:00:00Z", "Z", "app", "account", "answered", 3, "other", 10, 0, 0)

    # Cases. K1: D comes back through a written complaint with the same reason (a repeat of D's call)
    complaint(con, "2026-03-10T11:00:00Z", "D", "K1", "billing", "billing_error")
    case(con, "case_replied", "2026-03-11T11:00:00Z", "D", "K1", handle_s=600)
    case(con, "case_resolved", "2026-03-12T11:00:00Z", "D", "K1", handle_s=1200, compensation_eur=20)
    # K2: complaint replied after 6 h, never resolved
    complaint(con, "2026-03-10T12:00:00Z", "H", "K2", "delivery", "delivery_delay")
    case(con, "case_replied", "2026-03-10T18:00:00Z", "H", "K2", handle_s=300)
    # K3: request replied after 12 h, resolved after 24 h, then reopened: not resolved
    case(con, "case_opened", "2026-03-10T13:00:00Z", "I", "K3", reason="info")
    case(con, "case_replied", "2026-03-11T01:00:00Z", "I", "K3", handle_s=0)
    case(con, "case_resolved", "2026-03-11T13:00:00Z", "I", "K3", handle_s=100)
    case(con, "case_reopened", "2026-03-12T13:00:00Z", "I", "K3")
    # K4: web complaint, never replied nor resolved
    complaint(con, "2026-03-10T14:00:00Z", "J", "K4", "delivery", "delivery_delay", channel="web")
    # K6: a request opened late on the 11th, never replied (a cohort day between K3's resolution on the
    # 11th and its reopening on the 12th)
    case(con, "case_opened", "2026-03-11T20:00:00Z", "L", "K6", reason="info")
    # K5: a later request
    case(con, "case_opened", "2026-03-20T10:00:00Z", "K", "K5", reason="info")
    case(con, "case_replied", "2026-03-20T11:00:00Z", "K", "K5", handle_s=60)
    # April complaints for the Pareto: damaged 3, late 3, billing 2, rude 2 (ties broken by name)
    for i, category in enumerate(
        ["late", "damaged", "rude", "late", "billing", "damaged", "rude", "damaged", "billing", "late"]
    ):
        complaint(con, f"2026-04-0{1 + i % 9}T09:00:00Z", f"P{i}", f"A{i}", "x", category)

    # Surveys on 2026-03-09 (UTC). s1 is written 01:30 at +02:00 on the 10th: 23:30 UTC on the 9th.
    survey(con, "2026-03-10T01:30:00+02:00", "chat", "web_chat", nps=10, csat=5, ces=7, expected=4, emotion="joy")
    survey(con, "2026-03-09T10:00:00Z", "chat", "web_chat", nps=6, csat=2, ces=2, expected=4, emotion="anger")
    survey(con, "2026-03-09T11:00:00Z", "phone", "billing_hotline", nps=8, csat=4)
    survey(con, "2026-03-09T12:00:00Z", "phone", "billing_hotline", ces=6)  # only CES
    survey(
        con,
        "2026-03-09T13:00:00Z",
        "phone",
        "billing_hotline",
        nps=0,
        csat=1,
        ces=1,
        expected=5,
        emotion="sadness",
    )
    # 2026-03-12: one response with only CES
    survey(con, "2026-03-12T09:00:00Z", "web", "checkout", ces=5)


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    yield from built_warehouse(settings, load_fixture)


def row(con, sql: str, *params) -> dict:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1, f"expected one row, got {len(rows)}"
    return dict(zip(names, rows[0], strict=True))


def approx(value: float | None, expected: float | None) -> bool:
    return (value is None and expected is None) or (
        value is not None and expected is not None and math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)
    )


def assert_row(actual: dict, expected: dict) -> None:
    wrong = {k: (actual[k], v) for k, v in expected.items() if not approx(actual[k], v)}
    assert not wrong, f"(actual, expected): {wrong}"


SERVICE = "select * from marts.kpi_service_daily where day = ? and channel = ? and queue = ?"


def test_service_queue_level(con) -> None:
    # billing_hotline on the 9th: A ans w10 (150 s handled), B ans w30 (240 s), C abandoned w50,
    # D ans w20 (60 s)
    assert_row(
        row(con, SERVICE, date(2026, 3, 9), "phone", "billing_hotline"),
        {
            "offered": 4,
            "answered": 3,
            "abandoned": 1,
            "answer_rate": 0.75,
            "abandon_rate": 0.25,
            "service_level": 2
            / 4,  # A (10 s) and D (exactly 20 s) within 20 s; the abandoned call stays in the denominator
            "asa_s": (10 + 30 + 20) / 3,
            "aht_s": (150 + 240 + 60) / 3,
            # A repeats exactly 7 x 24 h later (counts), D through case K1 (counts), B 1 s too late (does not)
            "fcr_rate": 1 - 2 / 3,
        },
    )


def test_service_channel_and_total_roll_ups(con) -> None:
    chat = {
        "offered": 3,
        "answered": 2,
        "abandoned": 1,
        "answer_rate": 2 / 3,
        "service_level": 2 / 3,
        "asa_s": (5 + 8) / 2,
        "aht_s": (360 + 100) / 2,
        "fcr_rate": 1.0,
    }  # E's 2nd contact: another reason
    assert_row(row(con, SERVICE, date(2026, 3, 9), "chat", "web_chat"), chat)
    assert_row(row(con, SERVICE, date(2026, 3, 9), "chat", "all"), chat)
    assert_row(
        row(con, SERVICE, date(2026, 3, 9), "all", "all"),
        {
            "offered": 7,
            "answered": 5,
            "abandoned": 2,
            "answer_rate": 5 / 7,
            "service_level": 4 / 7,
            "asa_s": (10 + 30 + 20 + 5 + 8) / 5,
            "aht_s": (150 + 240 + 60 + 360 + 100) / 5,
            "fcr_rate": 1 - 2 / 5,
        },
    )


def test_null_is_not_zero(con) -> None:
    day = row(con, SERVICE, date(2026, 3, 11), "all", "all")
    assert_row(
        day,
        {
            "offered": 1,
            "answered": 0,
            "answer_rate": 0.0,
            "service_level": 0.0,
            "asa_s": None,
            "aht_s": None,
            "fcr_rate": None,
        },
    )


def test_fcr_final_once_every_window_closed(con) -> None:
    # latest event: the last April complaint, 2026-04-09T09:00Z. Windows end at day + 8 days 00:00:
    # 03-17, 03-19, 03-24 (all closed) and 04-13 (still open)
    finals = dict(con.execute("select day, fcr_final from marts.kpi_service_daily where channel = 'all'").fetchall())
    assert finals == {
        date(2026, 3, 9): True,
        date(2026, 3, 11): True,
        date(2026, 3, 16): True,
        date(2026, 4, 5): False,
    }


CASES = "select * from marts.kpi_cases_daily where day = ? and channel = ?"


def test_cases_cohort(con) -> None:
    # email on the 10th: K1 (reply 24 h, resolved 48 h), K2 (reply 6 h, open),
    # K3 (reply 12 h, resolved then reopened)
    email = {
        "opened": 3,
        "complaints": 2,
        "resolved": 1,
        "reopened": 1,
        "first_reply_p50_h": 12.0,
        "first_reply_p90_h": 12 + 0.8 * (24 - 12),  # [6, 12, 24] at 0.9: rank 1.8
        "resolution_p50_h": 48.0,
        "resolution_p90_h": 48.0,
        "backlog_end_of_day": 3,  # none of them resolved by the end of the 10th
        "complaint_rate": 2 / 3,
    }  # customers D, H, I touched email on the 10th
    assert_row(row(con, CASES, date(2026, 3, 10), "email"), email)
    # web: K4, a complaint never replied nor resolved
    assert_row(
        row(con, CASES, date(2026, 3, 10), "web"),
        {
            "opened": 1,
            "complaints": 1,
            "resolved": 0,
            "first_reply_p50_h": None,
            "resolution_p90_h": None,
            "backlog_end_of_day": 1,
            "complaint_rate": 1.0,
        },
    )
    assert_row(
        row(con, CASES, date(2026, 3, 10), "all"),
        {
            "opened": 4,
            "complaints": 3,
            "resolved": 1,
            "reopened": 1,
            "first_reply_p50_h": 12.0,
            "backlog_end_of_day": 4,
            "complaint_rate": 3 / 4,
        },
    )
    # end of the 11th: K1 (resolved on the 12th), K2, K4, K6 open; K3 resolved at 13:00 that day (its
    # reopening on the 12th does not reach back) -> 4 open, 3 of them email (K1, K2, K6)
    assert_row(
        row(con, CASES, date(2026, 3, 11), "all"),
        {
            "opened": 1,
            "complaints": 0,
            "resolved": 0,
            "first_reply_p50_h": None,
            "backlog_end_of_day": 4,
            "complaint_rate": 0.0,  # observed: no complaint among 4 active customers (D, I, L by mail, G)
            "active_customers": 4,
        },
    )
    assert row(con, CASES, date(2026, 3, 11), "email")["backlog_end_of_day"] == 3
    # the 20th: 6 opened so far, only K1 resolved (K3 was reopened) -> 5 open: K2, K3, K4, K5, K6
    assert row(con, CASES, date(2026, 3, 20), "all")["backlog_end_of_day"] == 5
    assert row(con, CASES, date(2026, 3, 20), "email")["backlog_end_of_day"] == 4  # all but K4 (web)


EXPERIENCE = "select * from marts.kpi_experience_daily where day = ? and channel = ? and touchpoint = ?"


def test_experience_levels_and_offset_timestamps(con) -> None:
    # web_chat on the 9th: s1 (written +02:00 on the 10th, 23:30 UTC on the 9th) and s2
    p, d, n = 1.75 / 5, 1.75 / 5, 5  # adjusted Wald: n' = 2 + 3, p' = (1 + .75)/5, d' = (1 + .75)/5
    assert_row(
        row(con, EXPERIENCE, date(2026, 3, 9), "chat", "web_chat"),
        {
            "responses": 2,
            "nps_n": 2,
            "promoters": 1,
            "passives": 0,
            "detractors": 1,
            "nps": 0.0,
            "nps_moe95": 100 * 1.96 * math.sqrt((p + d - (p - d) ** 2) / n),
            "csat_n": 2,
            "csat": 0.5,
            "ces_n": 2,
            "ces_mean": 4.5,
            "ces_easy_rate": 0.5,
            "expectation_gap": ((5 - 4) + (2 - 4)) / 2,
            "negative_emotion_rate": 0.5,
        },
    )
    assert_row(
        row(con, EXPERIENCE, date(2026, 3, 9), "phone", "billing_hotline"),
        {
            "responses": 3,
            "nps_n": 2,
            "promoters": 0,
            "passives": 1,
            "detractors": 1,
            "nps": -50.0,
            # n' = 2 + 3 = 5, p' = (0 + .75)/5 = .15, d' = (1 + .75)/5 = .35:
            # 100 x 1.96 x sqrt((.15 + .35 - (.15 - .35)^2) / 5) = 196 x sqrt(.46 / 5) = 196 x sqrt(.092)
            "nps_moe95": 196 * math.sqrt(0.092),
            "csat_n": 2,
            "csat": 0.5,
            "ces_n": 2,
            "ces_mean": 3.5,
            "ces_easy_rate": 0.5,
            "expectation_gap": 1 - 5,
            "negative_emotion_rate": 1.0,
        },
    )
    moe = row(con, EXPERIENCE, date(2026, 3, 9), "phone", "billing_hotline")["nps_moe95"]
    assert round(moe, 2) == 59.45  # 196 x 0.30332 by hand
    assert_row(
        row(con, EXPERIENCE, date(2026, 3, 9), "all", "all"),
        {
            "responses": 5,
            "nps_n": 4,
            "promoters": 1,
            "passives": 1,
            "detractors": 2,
            "nps": -25.0,
            "csat": 2 / 4,
            "ces_mean": (7 + 2 + 6 + 1) / 4,
            "ces_easy_rate": 2 / 4,
            "expectation_gap": (1 - 2 - 4) / 3,
            "negative_emotion_rate": 2 / 3,
        },
    )
    assert con.execute("select count(*) from marts.kpi_experience_daily where day = '2026-03-10'").fetchall() == [(0,)]


def test_survey_with_only_ces(con) -> None:
    assert_row(
        row(con, EXPERIENCE, date(2026, 3, 12), "all", "all"),
        {
            "responses": 1,
            "nps_n": 0,
            "nps": None,
            "nps_moe95": None,
            "csat_n": 0,
            "csat": None,
            "ces_n": 1,
            "ces_mean": 5.0,
            "ces_easy_rate": 1.0,
            "expectation_gap": None,
            "negative_emotion_rate": None,
        },
    )


PARETO = "select * from marts.complaints_pareto where month = ? and category = ?"


def test_pareto_ties_cut_and_cost(con) -> None:
    april = date(2026, 4, 1)
    ranks = con.execute(
        "select category, rank, vital_few from marts.complaints_pareto where month = ? order by rank", [april]
    ).fetchall()
    # damaged 3 and late 3 tie (name order), billing 2 and rude 2 tie; cumulative .3 .6 .8 1.0:
    # billing reaches exactly 0.8 and is the last of the vital few
    assert ranks == [("damaged", 1, True), ("late", 2, True), ("billing", 3, True), ("rude", 4, False)]
    assert_row(row(con, PARETO, april, "billing"), {"complaints": 2, "share": 0.2, "cumulative_share": 0.8})
    march = date(2026, 3, 1)
    # K1: (600 + 1200) s = 0.5 h x 40 EUR = 20 EUR handling + 20 EUR compensation; K2: 300 s = 1/12 h x 40
    handling_delay = 300 / 3600 * 40
    assert_row(
        row(con, PARETO, march, "billing_error"),
        {
            "complaints": 1,
            "rank": 2,
            "handling_cost_eur": 20.0,
            "compensation_eur": 20.0,
            "cost_eur": 40.0,
            "cost_share": 40 / (40 + handling_delay),
        },
    )
    assert_row(
        row(con, PARETO, march, "delivery_delay"),
        {
            "complaints": 2,
            "rank": 1,
            "share": 2 / 3,
            "handling_cost_eur": handling_delay,
            "cost_eur": handling_delay,
        },
    )


def test_progress_dashboard_from_counts_with_status(settings: Settings, monkeypatch) -> None:
    kpis = dict(catalogue.load_catalogue())
    # A target the fixture can meet or miss: answer rate 0.66 +- 0.05, every period counted (min_n 1).
    kpis["answer_rate"] = dataclasses.replace(kpis["answer_rate"], target=0.66, tolerance=0.05, min_n=1)
    monkeypatch.setattr(catalogue, "load_catalogue", lambda: kpis)
    connection = connect(settings.warehouse_path)
    load_fixture(connection)
    build(connection, settings)
    dash = "select * from marts.progress_dashboard where period_type = ? and period_start = ? and kpi = ? and scope = ?"
    week = row(connection, dash, "week", date(2026, 3, 9), "answer_rate", "all")
    # week of the 9th: 5 answered / 8 offered (9th: 5/7, 11th: 0/1); the mean of daily ratios would be 0.357
    assert_row(week, {"value": 5 / 8, "n": 8, "target": 0.66, "previous_value": None, "delta": None})
    assert week["status"] == "amber" and week["trend"] is None and week["label_fr"] == "Taux de décroché"
    nxt = row(connection, dash, "week", date(2026, 3, 16), "answer_rate", "all")
    assert_row(nxt, {"value": 1.0, "n": 2, "previous_value": 5 / 8, "delta": 1 - 5 / 8})
    assert nxt["status"] == "green" and nxt["trend"] == "up" and nxt["direction"] is True
    phone = row(connection, dash, "week", date(2026, 3, 9), "answer_rate", "channel:phone")
    assert_row(phone, {"value": 3 / 5, "n": 5})
    assert phone["status"] == "red"  # 0.60 < 0.66 - 0.05; the week's 0.625 above was amber
    month = row(connection, dash, "month", date(2026, 3, 1), "answer_rate", "all")
    assert_row(month, {"value": 7 / 10, "n": 10})
    april = row(connection, dash, "month", date(2026, 4, 1), "answer_rate", "all")
    # April: Z answered 1 / 1; previous month 7 / 10
    assert_row(april, {"value": 1.0, "n": 1, "previous_value": 0.7, "delta": 0.3})
    assert april["trend"] == "up" and april["status"] == "green"
    # service level keeps the catalogue's min_n of 100: 8 contacts are not enough, whatever the value.
    # Week of the 9th: answered within 20 s A (10), D (20), E (5), E (8) = 4 of 8 offered (C, F, G
    # abandoned stay in the denominator); week of the 16th: A (15) of A, B = 1 / 2; delta 0 -> flat
    first = row(connection, dash, "week", date(2026, 3, 9), "service_level", "all")
    second = row(connection, dash, "week", date(2026, 3, 16), "service_level", "all")
    assert_row(first, {"value": 4 / 8, "n": 8})
    assert_row(second, {"value": 1 / 2, "n": 2, "previous_value": 0.5, "delta": 0.0})
    assert (first["status"], second["status"], second["trend"]) == ("no_data", "no_data", "flat")
    # complaint first reply in March, from the cases (not from daily medians): K1 24 h, K2 6 h, K4 none
    # -> median of [6, 24] = 15 h on n = 2 replied complaints; only K1 resolved, in 48 h
    reply = row(connection, dash, "month", date(2026, 3, 1), "complaint_first_reply_p50_h", "all")
    assert_row(reply, {"value": 15.0, "n": 2, "target": 48.0, "previous_value": None})
    assert reply["status"] == "no_data" and reply["direction"] is False  # min_n 20
    assert_row(
        row(connection, dash, "month", date(2026, 3, 1), "complaint_resolution_p90_h", "all"),
        {"value": 48.0, "n": 1},
    )
    web = row(connection, dash, "month", date(2026, 3, 1), "complaint_first_reply_p50_h", "channel:web")
    assert_row(web, {"value": None, "n": 0})  # K4 never replied: NULL, not 0
    assert web["status"] == "no_data"
    # NPS of the week of the 9th from counts: 1 promoter, 2 detractors of 4 answers -> -25 points
    assert_row(row(connection, dash, "week", date(2026, 3, 9), "nps", "all"), {"value": -25.0, "n": 4})
    connection.close()


def test_model_tests_catch_a_broken_mart(con) -> None:
    assert run_schema_tests(con) == []
    con.execute(
        "update marts.kpi_service_daily set answered = answered + 1 "
        "where day = '2026-03-09' and queue = 'all' and channel = 'all'"
    )
    con.execute("update marts.kpi_experience_daily set csat = 1.5 where day = '2026-03-12'")
    failures = {(f.model, f.test) for f in run_schema_tests(con)}
    assert ("kpi_service_daily", "expression: answered + abandoned = offered") in failures
    assert ("kpi_experience_daily", "csat range") in failures


def test_build_fails_when_model_tests_fail(con, settings: Settings) -> None:
    # a duplicated row on a day the next incremental build does not touch
    con.execute(
        "insert into marts.kpi_service_daily by name "
        "select * from marts.kpi_service_daily where day = '2026-03-09' limit 1"
    )
    con.execute("insert into ops.dirty_days values ('2026-01-01')")
    with pytest.raises(SchemaTestError, match="unique grain"):
        build(con, settings)
    # the build rolled back: its dirty day is still to do, the marts are as they were
    assert con.execute("select day from ops.dirty_days").fetchall() == [(date(2026, 1, 1),)]
    assert build(con, settings, full=True).full  # a full rebuild repairs the mart
