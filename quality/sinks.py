"""Alert delivery: Kafka `cx.alerts` (JSON) and a Slack-compatible webhook, with retries.

An alert is "pending" until every configured sink took it; a failing sink leaves it pending with the
error, and the next run tries again, so nothing is lost. The webhook URL is a secret: it comes from
CXPULSE_ALERT_WEBHOOK only.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime

import duckdb
from kafka import KafkaProducer
from kafka.errors import KafkaError

from cxpulse.config import Settings
from streams.kafka_clients import kafka_client

log = logging.getLogger(__name__)

ALERT_FIELDS = (
    "alert_id",
    "rule",
    "severity",
    "kpi",
    "scope",
    "window_start",
    "window_end",
    "baseline_value",
    "current_value",
    "delta",
    "n_current",
    "n_baseline",
    "p_value",
    "message",
    "message_fr",
    "status",
    "first_fired_at",
    "last_seen_at",
    "resolved_at",
    "dedupe_key",
    "evidence",
)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def alert_json(alert: dict) -> bytes:
    return json.dumps(alert, default=_json_default, ensure_ascii=False).encode()


def post_webhook(url: str, alert: dict, *, attempts: int = 3, backoff_s: float = 1.0, timeout_s: float = 10) -> None:
    """POST {"text": ...} (Slack-compatible); retries with exponential backoff, raises on final failure."""
    icon = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
    status = "resolved: " if alert["status"] == "resolved" else ""
    body = json.dumps({"text": f"{icon.get(alert['severity'], '')} {status}{alert['message']}\n{alert['message_fr']}"})
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - URL from config
                if 200 <= response.status < 300:
                    return
                raise urllib.error.HTTPError(url, response.status, "non-2xx", response.headers, None)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == attempts:
                raise RuntimeError(f"webhook failed after {attempts} attempts: {exc}") from exc
            time.sleep(backoff_s * 2 ** (attempt - 1))


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    producer: KafkaProducer | None = None,
    webhook_backoff_s: float = 1.0,
) -> dict[str, int]:
    """Send every pending alert to Kafka and the webhook; record per alert what happened."""
    cursor = con.execute(
        f"select {', '.join(ALERT_FIELDS)} from marts.alerts where delivery_status <> 'delivered' "  # noqa: S608
        "order by first_fired_at"
    )
    alerts = [dict(zip(ALERT_FIELDS, row, strict=True)) for row in cursor.fetchall()]
    counts = {"delivered": 0, "failed": 0}
    if not alerts:
        return counts
    own_producer = producer is None
    try:
        if producer is None:
            producer = kafka_client(KafkaProducer, settings, "cxpulse-alerts", acks="all", bootstrap_timeout_ms=5_000)
    except KafkaError as exc:
        log.warning("alerts stay pending: Kafka unreachable (%s)", exc)
        producer = None
    try:
        for alert in alerts:
            errors = []
            if producer is not None:
                try:
                    producer.send(settings.topic_alerts, alert_json(alert), key=alert["dedupe_key"].encode()).get(
                        timeout=30
                    )
                except KafkaError as exc:
                    errors.append(f"kafka: {exc}")
            else:
                errors.append("kafka: unreachable")
            if settings.alert_webhook:
                try:
                    post_webhook(settings.alert_webhook, alert, backoff_s=webhook_backoff_s)
                except RuntimeError as exc:
                    errors.append(str(exc))
            status = "failed" if errors else "delivered"
            counts[status] += 1
            con.execute(
                "update marts.alerts set delivery_status = ?, delivery_attempts = delivery_attempts + 1, "
                "delivery_error = ? where alert_id = ?",
                [status, "; ".join(errors) or None, alert["alert_id"]],
            )
    finally:
        if own_producer and producer is not None:
            producer.close()
    return counts
