"""Hot-path detractor alerts recorded in marts.alerts by the quality step, linked to their case or contact."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from cxpulse.config import Settings
from quality import hot_alerts
from streams.contracts import SurveyResponse
from streams.hot_rules import detractor_alert
from tests.builders import landed, staged_warehouse

AS_OF = datetime(2026, 3, 16, tzinfo=UTC)
SETTINGS = dataclasses.replace(Settings(), hot_detractor_nps_max=2, hot_complaint_nps_max=6, alert_current_days=7)
DAY = timedelta(days=1)

# response_id, days before AS_OF, nps, case_id, contact_id
ANSWERS = [
    ("r1", 1, 1, None, None),  # detractor: warning
    ("r2", 2, 5, "C1", None),  # about complaint C1 opened before: critical
    ("r3", 2, 5, "C2", None),  # complaint C2 opened after the answer: nothing
    ("r4", 2, 5, "C3", None),  # C3 is not a complaint: nothing
    ("r5", 10, 0, None, None),  # before the current window: history, not recorded
    ("r6", 1, 7, None, None),  # passive: nothing
    ("r7", 3, 2, None, "ct9"),  # detractor after contact ct9: warning, linked to it
]
# case_id, days before AS_OF, is_complaint
CASES = [("C1", 4, True), ("C2", 1, True), ("C3", 4, False)]


def _raw(con: duckdb.DuckDBPyConnection) -> None:
    n = len(ANSWERS)
    answers = pa.table(  # noqa: F841 - read by DuckDB replacement scan below
        {
            "response_id": [a[0] for a in ANSWERS],
            "occurred_at": [AS_OF - a[1] * DAY + timedelta(hours=10) for a in ANSWERS],
            "customer_id": [f"cust-{a[0]}" for a in ANSWERS],
            "channel": ["phone"] * n,
            "touchpoint": ["billing_hotline"] * n,
            "survey": ["post_contact"] * n,
            "nps": [a[2] for a in ANSWERS],
            "case_id": [a[3] for a in ANSWERS],
            "contact_id": [a[4] for a in ANSWERS],
            **landed(n, AS_OF, "cx.surveys"),
        }
    )
    con.execute("insert into raw.surveys by name select * from answers")
    m = len(CASES)
    cases = pa.table(  # noqa: F841 - read by DuckDB replacement scan below
        {
            "event_id": [f"e-{c[0]}" for c in CASES],
            "event_type": ["case_opened"] * m,
            "occurred_at": [AS_OF - c[1] * DAY for c in CASES],
            "customer_id": ["cust-x"] * m,
            "case_id": [c[0] for c in CASES],
            "channel": ["email"] * m,
            "touchpoint": ["complaints_mailbox"] * m,
            "is_complaint": [c[2] for c in CASES],
            **landed(m, AS_OF, "cx.touchpoints"),
        }
    )
    con.execute("insert into raw.touchpoints by name select * from cases")


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    yield from staged_warehouse(tmp_path / "cx.duckdb", _raw)


def test_the_rule_applied_to_loaded_answers_records_what_the_consumer_sent(con) -> None:
    assert hot_alerts.record(con, SETTINGS, AS_OF) == (3, 0)
    rows = con.execute(
        """select alert_id, response_id, severity, case_id, contact_id, scope, current_value, status, delivery_status
           from marts.alerts where rule = 'detractor_complaint' order by response_id"""
    ).fetchall()
    # the same id as the cx.alerts message of the hot path: a UUID5 of the answer
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse:detractor:{r}")) for r in ("r1", "r2", "r7")]
    assert rows == [
        (ids[0], "r1", "warning", None, None, "touchpoint:billing_hotline", 1.0, "open", "hot_path"),
        (ids[1], "r2", "critical", "C1", None, "touchpoint:billing_hotline", 5.0, "open", "hot_path"),
        (ids[2], "r7", "warning", None, "ct9", "touchpoint:billing_hotline", 2.0, "open", "hot_path"),
    ]
    message, message_fr = con.execute(
        "select message, message_fr from marts.alerts where response_id = 'r2'"
    ).fetchall()[0]
    assert message == (
        "A customer (answer r2) gave NPS 5 about complaint case C1 after phone at billing_hotline on "
        "2026-03-14 10:00 UTC: call them back."
    )
    assert message_fr == (
        "Un client (réponse r2) a donné un NPS de 5 sur la réclamation C1 après un échange sur le canal "
        "téléphone (billing_hotline) le 14/03/2026 à 10:00 UTC : à rappeler."
    )
    # marts are published: no customer id in the warehouse copy
    assert con.execute("select count(*) from marts.alerts where message like '%cust-%'").fetchall()[0][0] == 0


def test_reruns_add_nothing_and_answers_leaving_the_window_resolve(con) -> None:
    hot_alerts.record(con, SETTINGS, AS_OF)
    assert hot_alerts.record(con, SETTINGS, AS_OF) == (0, 0)
    # a week later r1 (1 day before AS_OF) and r2 (2 days) and r7 (3 days) are all older than the window
    assert hot_alerts.record(con, SETTINGS, AS_OF + 8 * DAY) == (0, 3)
    assert con.execute("select count(*) from marts.alerts where status = 'open'").fetchall()[0][0] == 0
    assert hot_alerts.record(con, SETTINGS, AS_OF + 8 * DAY) == (0, 0)


def test_consumer_and_batch_share_the_rule_and_the_alert() -> None:
    answer = SurveyResponse(
        response_id="r2",
        occurred_at=AS_OF,
        customer_id="cust-r2",
        channel="phone",
        touchpoint="billing_hotline",
        survey="post_contact",
        case_id="C1",
        nps=5,
    )
    on_topic = detractor_alert(answer, True, False)
    in_warehouse = detractor_alert(answer, True, False, name_customer=False)
    assert on_topic.alert_id == in_warehouse.alert_id and on_topic.dedupe_key == in_warehouse.dedupe_key
    assert on_topic.message.startswith("Customer cust-r2 gave NPS 5") and "cust-r2" not in in_warehouse.message
