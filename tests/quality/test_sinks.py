"""Alert delivery: a webhook that fails loses nothing; delivery status is kept in marts.alerts."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from cxpulse.config import Settings
from quality import alerts
from quality.sinks import deliver_pending
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


def candidate(key: str) -> alerts.Candidate:
    return alerts.Candidate(
        rule="nps_shift",
        severity="warning",
        kpi="nps",
        scope="channel:chat",
        window_start=AS_OF,
        window_end=AS_OF,
        baseline_value=30.0,
        current_value=15.0,
        n_current=300,
        n_baseline=1200,
        p_value=0.001,
        message="NPS on channel:chat fell from 30.0 to 15.0 points on 300 answers.",
        message_fr="Le NPS a baissé.",
        dedupe_key=key,
    )


def test_failing_webhook_keeps_alerts_pending_until_it_recovers(tmp_path: Path) -> None:
    server, received = webhook_server(fail_first=3)  # 3 attempts of the first run all fail
    url = f"http://localhost:{server.server_port}/hook"
    settings = dataclasses.replace(Settings(), home=tmp_path, alert_webhook=url)
    con = connect(settings.warehouse_path)
    alerts.apply(con, [candidate("nps_shift|nps|channel:chat")], AS_OF, {"nps_shift"})
    producer = FakeProducer()
    first = deliver_pending(con, settings, producer=producer, webhook_backoff_s=0.01)
    assert first == {"delivered": 0, "failed": 1}
    status, attempts, error = con.execute(
        "select delivery_status, delivery_attempts, delivery_error from marts.alerts"
    ).fetchall()[0]
    assert status == "failed" and attempts == 1 and "webhook failed after 3 attempts" in error
    second = deliver_pending(con, settings, producer=producer, webhook_backoff_s=0.01)
    assert second == {"delivered": 1, "failed": 0}
    assert con.execute("select delivery_status from marts.alerts").fetchall() == [("delivered",)]
    assert len(received) == 1 and "NPS on channel:chat fell" in received[0]["text"]
    assert "Le NPS a baissé" in received[0]["text"]
    # delivered alerts are not sent again
    assert deliver_pending(con, settings, producer=producer) == {"delivered": 0, "failed": 0}
    topics = {topic for topic, _ in producer.sent}
    assert topics == {settings.topic_alerts}
    assert json.loads(producer.sent[0][1])["dedupe_key"] == "nps_shift|nps|channel:chat"
    server.shutdown()
    con.close()
