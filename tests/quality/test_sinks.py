"""Alert delivery: a webhook that fails loses nothing; delivery status is kept in marts.alerts."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from cxpulse.config import Settings
from quality import alerts, incidents, notifications
from quality.sinks import deliver_pending
from streams import alert_contract
from tests import builders
from warehouse.db import connect

AS_OF = datetime(2026, 3, 15, tzinfo=UTC)


class FakeProducer:
    """Stands in for Kafka in this unit test (the hot-path test covers the real broker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic: str, value: bytes, key: bytes):
        self.sent.append((topic, value))
        return self

    def get(self, timeout: float):
        return None


def webhook_server(fail_first: int) -> tuple[HTTPServer, list[dict]]:
    received: list[dict] = []
    state = {"calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            state["calls"] += 1
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state["calls"] <= fail_first:
                self.send_response(503)
                self.end_headers()
                return
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("localhost", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def candidate(
    key: str, message: str = "NPS on channel:chat fell from 30.0 to 15.0 points on 300 answers."
) -> alerts.Candidate:
    nps_fell = (30.0, 15.0, 300, 1200)
    return builders.finding(
        moved=nps_fell, at=AS_OF, p_value=0.001, message=message, message_fr="Le NPS a baissé.", dedupe_key=key
    )


def notify(con, *findings: alerts.Candidate, headline: str = "NPS fell on the chat channel") -> str:
    """Record the findings and one incident notification holding them, as a quality run does."""
    alerts.apply(con, list(findings), AS_OF, {"nps_shift"})
    incident = builders.incident(at=AS_OF, severity="warning", alerts=len(findings), headline=headline,
                                 headline_fr="Le NPS a baissé sur le canal chat")  # fmt: skip
    con.execute("update marts.alerts set incident_id = 'inc-1'")
    rows = incidents.open_grouped_alerts(con)
    notifications.record_incidents(con, [incidents.Transition("opened", incident, rows)], AS_OF)
    return incident.incident_id


def test_failing_webhook_keeps_notifications_pending_until_it_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server, received = webhook_server(fail_first=3)  # 3 attempts of the first run all fail
    url = f"http://localhost:{server.server_port}/hook"
    settings = dataclasses.replace(Settings(), home=tmp_path, alert_webhook=url)
    con = connect(settings.warehouse_path)
    notify(con, candidate("nps_shift|nps|channel:chat"), candidate("nps_shift|nps|touchpoint:app_chat"))
    producer = FakeProducer()
    first = deliver_pending(con, settings, producer=producer, webhook_backoff_s=0.01)
    assert first == {"delivered": 0, "failed": 1}  # one incident, not one message per finding
    status, attempts, error = con.execute(
        "select delivery_status, delivery_attempts, delivery_error from marts.notifications"
    ).fetchall()[0]
    assert status == "failed" and attempts == 1 and "webhook failed after 3 attempts" in error
    assert str(server.server_port) not in error and "/hook" not in error  # the URL is a secret...
    assert "/hook" not in caplog.text and f"localhost:{server.server_port}" not in caplog.text  # ...logged nowhere
    second = deliver_pending(con, settings, producer=producer, webhook_backoff_s=0.01)
    assert second == {"delivered": 1, "failed": 0}
    assert con.execute("select distinct delivery_status from marts.alerts").fetchall() == [("delivered",)]
    assert len(received) == 1 and "Incident [warning] NPS fell on the chat channel (2 findings)" in received[0]["text"]
    assert "Le NPS a baissé sur le canal chat" in received[0]["text"]
    # delivered notifications are not sent again
    assert deliver_pending(con, settings, producer=producer) == {"delivered": 0, "failed": 0}
    topics = {topic for topic, _ in producer.sent}
    assert topics == {settings.topic_alerts}
    message = alert_contract.decode(producer.sent[0][1])  # the cx.alerts contract reads it back
    assert isinstance(message, alert_contract.IncidentNotice) and message.event == "opened"
    assert sorted(f.dedupe_key for f in message.findings) == [
        "nps_shift|nps|channel:chat",
        "nps_shift|nps|touchpoint:app_chat",
    ]
    assert json.loads(producer.sent[0][1])["kind"] == "incident"
    server.shutdown()
    con.close()


def test_text_from_events_cannot_drive_slack(tmp_path: Path) -> None:
    server, received = webhook_server(fail_first=0)
    settings = dataclasses.replace(
        Settings(), home=tmp_path, alert_webhook=f"http://localhost:{server.server_port}/hook"
    )
    con = connect(settings.warehouse_path)
    notify(con, candidate("k"), headline="NPS fell on <!channel> see <https://evil.example|your bank> & more")
    assert deliver_pending(con, settings, producer=FakeProducer()) == {"delivered": 1, "failed": 0}
    text = received[0]["text"]
    assert "<!channel>" not in text and "<https://" not in text
    assert "&lt;!channel&gt; see &lt;https://evil.example|your bank&gt; &amp; more" in text
    server.shutdown()
    con.close()


def test_a_slow_receiver_cannot_hold_the_run_beyond_the_delivery_budget(tmp_path: Path) -> None:
    """A receiver that accepts the connection and never answers: the run gives up at its budget and the
    notifications stay pending for the next run."""
    import socket

    listener = socket.socket()
    listener.bind(("localhost", 0))
    listener.listen(8)  # accepts connections into the backlog, never reads nor answers
    settings = dataclasses.replace(
        Settings(),
        home=tmp_path,
        alert_webhook=f"http://localhost:{listener.getsockname()[1]}/hook",
        alert_delivery_budget_s=1.0,
    )
    con = connect(settings.warehouse_path)
    notify(con, candidate("a"))
    con.execute("insert into marts.notifications select * replace ('n2' as notification_id) from marts.notifications")
    counts = deliver_pending(con, settings, producer=FakeProducer(), webhook_backoff_s=0.01)
    listener.close()
    assert counts == {"delivered": 0, "failed": 1}
    rows = con.execute(
        "select delivery_status, delivery_attempts, delivery_error from marts.notifications order by notification_id"
    ).fetchall()
    # the first one was cut at the budget (one attempt, its timeout capped by the budget, no retry), the
    # second was not even tried: it stays pending for the next run
    assert sorted(rows, key=lambda r: r[1]) == [("pending", 0, None), ("failed", 1, rows[0][2] or rows[1][2])]
    assert "webhook failed after 1 attempts" in (rows[0][2] or rows[1][2])
    con.close()
