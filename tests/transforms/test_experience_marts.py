"""marts.experience_dimensions and marts.experience_economics against a hand-made fixture. Every
expected number is worked out by hand in the comments below, from the events inserted here, never read
back from the SQL. The reporting zone is UTC and every event lies in the ISO week of Monday 2026-03-09
(March 2026), so the week and the month hold the same events."""

from __future__ import annotations

import dataclasses
import json
from datetime import date

import duckdb
import pytest

from cxpulse.config import Settings
from tests.builders import built_warehouse
from tests.transforms.test_marts import assert_row, event, insert, row
from transforms import dimensions
from transforms.catalogue import CatalogueError
from transforms.runner import build
from warehouse.db import connect

WEEK, MONTH = date(2026, 3, 9), date(2026, 3, 1)


def contact(con, at: str, customer: str, outcome: str, wait: float, reason: str, journey: str, segment: str, **t):
    event(con, "contact", at, customer, "phone", "q1", contact_id=f"k-{at}", outcome=outcome, wait_s=wait,
          reason=reason, journey=journey, segment=segment, **t)  # fmt: skip


def case(con, event_type: str, at: str, customer: str, case_id: str, **extra) -> None:
    event(con, event_type, at, customer, "email", "form", case_id=case_id, **extra)


def step(con, at: str, customer: str, channel: str, touchpoint: str, status: str, journey: str, segment: str):
    event(con, "journey_step", at, customer, channel, touchpoint, step_status=status, journey=journey, segment=segment)


def answer(con, at: str, customer: str, channel: str, segment: str, survey: str, **scores) -> None:
    insert(con, "raw.surveys", occurred_at=at, customer_id=customer, channel=channel, touchpoint="t",
           segment=segment, survey=survey, **scores)  # fmt: skip


def load_fixture(con: duckdb.DuckDBPyConnection) -> None:
    # Live contacts, all phone queue q1 (service level target 20 s, FCR window 168 h):
    # C1 A answered in 10 s (handle 100 + 0 + 20 = 120 s); C2 B answered in 30 s (> 20 s; 240 s);
    # C3 C abandoned; C4 A answered in 5 s (60 s), same reason as C1 two hours later: C1 is repeated.
    contact(con, "2026-03-10T08:00:00Z", "A", "answered", 10, "r1", "billing", "pro", talk_s=100, hold_s=0, acw_s=20)
    contact(
        con, "2026-03-10T09:00:00Z", "B", "answered", 30, "r2", "billing", "residential", talk_s=200, hold_s=0, acw_s=40
    )
    contact(con, "2026-03-10T10:00:00Z", "C", "abandoned", 50, "r3", "delivery", "residential")
    contact(con, "2026-03-10T12:00:00Z", "A", "answered", 5, "r1", "billing", "pro", talk_s=60, hold_s=0, acw_s=0)
    # Cases by email: K1 a billing complaint of D (handling 600 + 1200 s, 20 EUR compensation);
    # K2 a delivery request of E (300 s)
    case(
        con,
        "case_opened",
        "2026-03-10T14:00:00Z",
        "D",
        "K1",
        reason="x",
        is_complaint=True,
        category="c",
        journey="billing",
        segment="pro",
    )
    case(con, "case_replied", "2026-03-11T10:00:00Z", "D", "K1", handle_s=600)
    case(con, "case_resolved", "2026-03-12T10:00:00Z", "D", "K1", handle_s=1200, compensation_eur=20)
    case(con, "case_opened", "2026-03-11T09:00:00Z", "E", "K2", reason="y", journey="delivery", segment="residential")
    case(con, "case_resolved", "2026-03-11T15:00:00Z", "E", "K2", handle_s=300, compensation_eur=0)
    # Journey steps: A logs in (ok) and fails to pay (billing); F and B go through the termination journey
    step(con, "2026-03-10T07:00:00Z", "A", "web", "login", "ok", "billing", "pro")
    step(con, "2026-03-10T07:05:00Z", "A", "web", "pay", "failed", "billing", "pro")
    step(con, "2026-03-10T16:00:00Z", "F", "app", "login", "ok", "termination", "residential")
    step(con, "2026-03-10T17:00:00Z", "B", "web", "login", "ok", "termination", "residential")
    step(con, "2026-03-10T16:10:00Z", "F", "app", "confirm", "ok", "termination", "residential")
    # Survey answers: three relationship answers (NPS 10, 6, 9) and one post-contact answer about billing
    answer(con, "2026-03-10T18:00:00Z", "R1", "web", "pro", "relationship", nps=10, csat=5, expected=3, emotion="joy")
    answer(
        con,
        "2026-03-10T18:10:00Z",
        "R2",
        "web",
        "residential",
        "relationship",
        nps=6,
        csat=2,
        expected=4,
        emotion="anger",
    )
    answer(con, "2026-03-10T18:20:00Z", "R3", "phone", "residential", "relationship", nps=9, emotion="joy")
    answer(
        con,
        "2026-03-10T18:30:00Z",
        "A",
        "phone",
        "pro",
        "post_contact",
        nps=0,
        csat=4,
        expected=3,
        emotion="joy",
        journey="billing",
    )


@pytest.fixture
def every_component_counts(monkeypatch) -> None:
    """The catalogue's components with min_n 1, so that the fixture's few events are scored."""
    components = tuple(dataclasses.replace(c, min_n=1) for c in dimensions.load_components())
    monkeypatch.setattr(dimensions, "load_components", lambda: components)


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    yield from built_warehouse(settings, load_fixture)


DIM = (
    "select * from marts.experience_dimensions "
    "where period_type = ? and period_start = ? and scope = ? and dimension = ?"
)


def components(r: dict) -> dict[str, dict]:
    return {c["component"]: c for c in json.loads(r["components"])}


@pytest.mark.usefixtures("every_component_counts")
def test_four_dimensions_of_all_scopes(con) -> None:
    for period_type, start in (("week", WEEK), ("month", MONTH)):
        # Service: service level 2 answered within 20 s (C1, C4) / 4 offered = 0.5 -> 50; FCR 1 - 1
        # repeated (C1) / 3 answered -> 66.667; complaints 1 (K1) / active customer-days 7 (the 10th: A,
        # B, C, D, F; the 11th: D, E; only cohort days of cases count) = 0.142857, beyond the worst 0.10
        # -> 0. Score (0 + 66.667 + 50) / 3 = 38.889, n = min(4, 3, 7) = 3; target (80 + 75 + 80) / 3.
        service = row(con, DIM, period_type, start, "all", "service")
        assert_row(service, {"score": (0 + 200 / 3 + 50) / 3, "n": 3, "target": 235 / 3})
        assert service["status"] == "red" and service["label_fr"] == "Service"
        parts = components(service)
        assert_row(parts["complaint_rate"], {"value": 1 / 7, "score": 0.0, "n": 7, "min_n": 1})
        assert_row(parts["service_level"], {"value": 0.5, "score": 50.0, "n": 4})
        assert_row(parts["fcr_rate"], {"value": 2 / 3, "score": 200 / 3, "n": 3})
        # Relational: relationship NPS 100 x (2 - 1) / 3 = 33.333 -> (33.333 + 100) / 2 = 66.667;
        # consistency: customers with 2+ distinct touchpoints: A (q1, login, pay: the payment failed),
        # B (q1 answered, login ok), F (login, confirm ok); C has one -> 2 / 3 -> 66.667.
        # Target (65 + 80) / 2 = 72.5: 66.667 is more than 5 points below -> red.
        relational = row(con, DIM, period_type, start, "all", "relational")
        assert_row(relational, {"score": 200 / 3, "n": 3, "target": 72.5})
        assert relational["status"] == "red"
        assert_row(components(relational)["relationship_nps"], {"value": 100 / 3, "n": 3})
        assert_row(components(relational)["consistency_rate"], {"value": 2 / 3, "n": 3})
        # Experiential: steps ok 4 / 5 -> 80; expectation gap (5-3) + (2-4) + (4-3) = 1 over 3 answers
        # -> 1/3 on [-4, 4] -> 54.167. Score 67.083, n = min(5, 3); target (90 + 50) / 2 = 70 -> amber.
        experiential = row(con, DIM, period_type, start, "all", "experiential")
        assert_row(experiential, {"score": (80 + (1 / 3 + 4) / 8 * 100) / 2, "n": 3, "target": 70.0})
        assert experiential["status"] == "amber"
        # Emotional: 4 answers with an emotion, 1 negative (anger) -> 0.25 -> 75; joy 3 / 4 -> 75.
        # Score 75, n 4; target (85 + 50) / 2 = 67.5 -> green.
        emotional = row(con, DIM, period_type, start, "all", "emotional")
        assert_row(emotional, {"score": 75.0, "n": 4, "target": 67.5})
        assert emotional["status"] == "green" and emotional["label_en"] == "Emotional"


@pytest.mark.usefixtures("every_component_counts")
def test_channel_and_segment_scopes_leave_out_what_does_not_apply(con) -> None:
    # phone: no case was filed by phone (complaint rate n = 0: not applicable); service level 0.5 and
    # FCR 2/3 as above -> (50 + 66.667) / 2 = 58.333, n 3, target (80 + 75) / 2 = 77.5
    phone = row(con, DIM, "week", WEEK, "channel:phone", "service")
    assert_row(phone, {"score": (50 + 200 / 3) / 2, "n": 3, "target": 77.5})
    assert_row(components(phone)["complaint_rate"], {"value": None, "score": None, "n": 0})
    # segment pro: relationship NPS of R1 alone (10) -> +100 -> 100; consistency: A only, a failed step
    # -> 0 / 1 -> 0. Score 50, n 1.
    assert_row(row(con, DIM, "week", WEEK, "segment:pro", "relational"), {"score": 50.0, "n": 1})
    # service is kept per channel, not per segment: nothing applies -> no_data, NULL, n 0
    pro_service = row(con, DIM, "week", WEEK, "segment:pro", "service")
    assert_row(pro_service, {"score": None, "n": 0})
    assert pro_service["status"] == "no_data"


def test_below_min_n_there_is_no_score(con) -> None:
    # the catalogue's min_n (30 answers, 100 contacts...) is far above the fixture's counts
    statuses = con.execute(
        "select distinct status, score from marts.experience_dimensions where scope = 'all'"
    ).fetchall()
    assert statuses == [("no_data", None)]


ECO = "select * from marts.experience_economics where month = ? and journey = ?"


def test_experience_economics_per_journey(con) -> None:
    # billing: customers A, B (contacts), D (K1), A (steps) -> 3; 3 live contacts + 1 case = 4 -> 4/3
    # per customer. Handling 120 + 240 + 60 (contacts) + 600 + 1200 (K1) = 2220 s = 0.61667 h x 40 EUR
    # = 24.667 EUR, + 20 EUR compensation = 44.667 EUR, 14.889 EUR per customer. NPS of A's answer (0)
    # -> -100 on 1; 1 complaint / 3 = 0.333; B entered the termination journey: 1 / 3.
    billing = row(con, ECO, MONTH, "billing")
    assert_row(
        billing,
        {
            "customers": 3,
            "live_contacts": 3,
            "cases": 1,
            "contacts": 4,
            "contacts_per_customer": 4 / 3,
            "handling_h": 2220 / 3600,
            "handling_cost_eur": 2220 / 3600 * 40,
            "compensation_eur": 20.0,
            "cost_to_serve_eur": 2220 / 3600 * 40 + 20,
            "cost_per_customer_eur": (2220 / 3600 * 40 + 20) / 3,
            "nps_n": 1,
            "nps": -100.0,
            "complaints": 1,
            "complaint_rate": 1 / 3,
            "termination_customers": 1,
            "termination_rate": 1 / 3,
        },
    )
    # delivery: C (abandoned, no handling) and E (K2, 300 s) -> 2 customers, 2 contacts; 300 s = 3.333 EUR
    delivery = row(con, ECO, MONTH, "delivery")
    assert_row(
        delivery,
        {"customers": 2, "contacts": 2, "cost_to_serve_eur": 300 / 3600 * 40, "nps_n": 0, "nps": None},
    )
    # termination: F and B (steps only): no contact, no cost; both entered the termination journey
    assert_row(
        row(con, ECO, MONTH, "termination"),
        {"customers": 2, "contacts": 0, "cost_to_serve_eur": 0.0, "termination_rate": 1.0},
    )
    # the relationship answers have no journey: 'unassigned', NPS 100 x (2 - 1) / 3
    assert_row(row(con, ECO, MONTH, "unassigned"), {"customers": 0, "nps_n": 3, "nps": 100 / 3})
    # all: 6 distinct customers (A..F), 4 + 2 contacts, 2520 s = 0.7 h -> 28 EUR + 20 EUR; NPS of the
    # 4 answers: 2 promoters (10, 9), 2 detractors (6, 0) -> 0; 1 complaint / 6; B and F terminate: 2 / 6
    assert_row(
        row(con, ECO, MONTH, "all"),
        {
            "customers": 6,
            "contacts": 6,
            "contacts_per_customer": 1.0,
            "cost_to_serve_eur": 48.0,
            "cost_per_customer_eur": 8.0,
            "nps": 0.0,
            "complaint_rate": 1 / 6,
            "termination_customers": 2,
            "termination_rate": 1 / 3,
        },
    )


def test_hourly_cost_comes_from_the_configuration(settings: Settings) -> None:
    connection = connect(settings.warehouse_path)
    load_fixture(connection)
    build(connection, dataclasses.replace(settings, hourly_cost_eur=60))
    # delivery: 300 s at 60 EUR an hour = 5 EUR
    assert_row(row(connection, ECO, MONTH, "delivery"), {"handling_cost_eur": 5.0})
    connection.close()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["dimensions"].pop("service"), "must define exactly relational, service"),
        (lambda d: d["dimensions"]["service"]["components"]["fcr_rate"].update(kpi="nope"), "unknown KPI 'nope'"),
        (lambda d: d["dimensions"]["emotional"]["components"]["joy_rate"].pop("best"), "missing keys \\['best'\\]"),
        (lambda d: d["dimensions"]["emotional"]["components"]["joy_rate"].update(best=0), "best must differ"),
    ],
)
def test_dimension_catalogue_errors_name_the_dimension_and_key(change, message: str) -> None:
    import copy
    from importlib import resources

    import yaml

    data = copy.deepcopy(yaml.safe_load(resources.files("transforms").joinpath("kpis.yaml").read_text()))
    change(data)
    with pytest.raises(CatalogueError, match=message):
        dimensions.parse(data)


def test_the_sql_computes_every_catalogue_component_and_nothing_else() -> None:
    import re
    from importlib import resources

    sql = resources.files("transforms").joinpath("marts", "experience_dimensions.sql").read_text()
    body = sql[sql.index("components_long as (") : sql.index("-- the periods to build")]
    computed = set(re.findall(r"'([a-z_]+)'(?: as component)?,", body))
    assert computed == {c.component for c in dimensions.load_components()}


def test_normalisation_is_linear_and_clamped() -> None:
    by_id = {c.component: c for c in dimensions.load_components()}
    assert by_id["relationship_nps"].normalise(0) == 50  # -100..100
    assert by_id["negative_emotion_rate"].normalise(0.25) == 75  # best 0, worst 1
    assert by_id["complaint_rate"].normalise(0.05) == 50 and by_id["complaint_rate"].normalise(0.3) == 0
