"""Delivery of what people are told: Kafka `cx.alerts` (JSON, contract streams.alert_contract) and a
Slack-compatible webhook, with retries.

A notification (marts.notifications) is "pending" until every configured sink took it; a failing sink leaves
it pending with the error, and the next run tries again, so nothing is lost. Delivery cannot hurt the
pipeline: one run spends at most `alert_delivery_budget_s` on it. The webhook URL is a secret: it comes from
CXPULSE_ALERT_WEBHOOK only, is checked when the config loads, and is redacted from every error.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

import duckdb
from kafka import KafkaProducer
from kafka.errors import KafkaError

from cxpulse.config import Settings, redact
from quality import notifications
from streams.kafka_clients import kafka_client

log = logging.getLogger(__name__)

_SLACK_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))


def slack_text(text: str) -> str:
    """Text from events made inert for Slack: `<!channel>`, `<url|label>` and `&` entities are control
    sequences there (Slack's own escaping rule: &, <, > as HTML entities)."""
    for raw, escaped in _SLACK_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def post_webhook(
    url: str,
    text: str,
    *,
    attempts: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 10,
    deadline: float | None = None,
) -> None:
    """POST {"text": ...} (Slack-compatible); retries with exponential backoff, raises on final failure.
    The URL is a secret: it never appears in the error raised (nor in a log line)."""
    body = json.dumps({"text": text}).encode()
    for attempt in range(1, attempts + 1):
        if deadline is not None:
            timeout_s = min(timeout_s, max(deadline - time.monotonic(), 0.1))
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - URL checked by config
                if 200 <= response.status < 300:
                    return
                raise urllib.error.HTTPError("webhook", response.status, "non-2xx", response.headers, None)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            out_of_time = deadline is not None and time.monotonic() + backoff_s * 2 ** (attempt - 1) >= deadline
            if attempt == attempts or out_of_time:
                raise RuntimeError(f"webhook failed after {attempt} attempts: {redact(str(exc), url)}") from None
            time.sleep(backoff_s * 2 ** (attempt - 1))


def _webhook_text(severity: str, message: str, message_fr: str) -> str:
    icon = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}
    return f"{icon.get(severity, '')} {slack_text(message)}\n{slack_text(message_fr)}".strip()


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    producer: KafkaProducer | None = None,
    webhook_backoff_s: float = 1.0,
) -> dict[str, int]:
    """Send every pending notification (incident transitions, target digests) to Kafka and the webhook,
    within the run's delivery budget; record per notification what happened. Findings are not sent one by
    one: they travel inside their incident's notification."""
    if not notifications.exists(con):
        return {"delivered": 0, "failed": 0}
    rows = con.execute(
        "select notification_id, kind, subject_id, severity, message, message_fr, payload from marts.notifications "
        "where delivery_status in ('pending', 'failed') order by created_at, notification_id"
    ).fetchall()
    counts = {"delivered": 0, "failed": 0}
    if not rows:
        return counts
    deadline = time.monotonic() + settings.alert_delivery_budget_s
    own_producer = producer is None
    try:
        if producer is None:
            producer = kafka_client(KafkaProducer, settings, "cxpulse-alerts", acks="all", bootstrap_timeout_ms=5_000)
    except KafkaError as exc:
        log.warning("notifications stay pending: Kafka unreachable (%s)", exc)
        producer = None
    try:
        for notification_id, kind, subject_id, severity, message, message_fr, payload in rows:
            if time.monotonic() >= deadline:
                log.warning(
                    "alert delivery budget of %.0f s spent: %d notification(s) stay pending for the next run",
                    settings.alert_delivery_budget_s,
                    len(rows) - counts["delivered"] - counts["failed"],
                )
                break
            errors = []
            if producer is not None:
                try:
                    remaining = max(deadline - time.monotonic(), 0.1)
                    producer.send(settings.topic_alerts, payload.encode(), key=subject_id.encode()).get(
                        timeout=min(30, remaining)
                    )
                except KafkaError as exc:
                    errors.append(f"kafka: {exc}")
            else:
                errors.append("kafka: unreachable")
            if settings.alert_webhook:
                try:
                    post_webhook(
                        settings.alert_webhook,
                        _webhook_text(severity, message, message_fr),
                        backoff_s=webhook_backoff_s,
                        deadline=deadline,
                    )
                except RuntimeError as exc:
                    errors.append(str(exc))
            status = "failed" if errors else "delivered"
            counts[status] += 1
            error = redact("; ".join(errors), settings.alert_webhook) or None
            con.execute(
                "update marts.notifications set delivery_status = ?, delivery_attempts = delivery_attempts + 1, "
                "delivery_error = ? where notification_id = ?",
                [status, error, notification_id],
            )
            if kind == "incident":
                # the findings travelled inside their incident's notification
                con.execute(
                    "update marts.alerts set delivery_status = ?, delivery_attempts = delivery_attempts + 1, "
                    "delivery_error = ? where incident_id = ?",
                    [status, error, subject_id],
                )
    finally:
        if own_producer and producer is not None:
            producer.close()
    return counts
