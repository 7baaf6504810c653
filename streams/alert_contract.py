"""The `cx.alerts` contract: the one definition of an alert (a finding), an incident, and the three kinds of
message on the topic (`incident`, `digest`, `hot`).

Why here, in streams/: `cx.alerts` is a Kafka topic like the input topics, and its contract sits beside
theirs (JSON Schema exported by `streams.jsonschema` into docs/contracts/). Data flows streams -> ... ->
quality, so the hot-path rules of the consumer (streams/hot_rules.py) may not import quality/, while
quality/ (drift findings, incidents, sinks) may import from streams/. The columns of `marts.alerts` and
`marts.incidents` are derived from these classes (quality.alerts / quality.incidents), the sinks serialise
them, the hot path builds them: nothing else restates the shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Rule = Literal[
    "nps_shift",
    "csat_shift",
    "ces_shift",
    "service_shift",
    "distribution_drift",
    "target_breach",
    "detractor_complaint",
    "data_quality",
    "journey_rupture",
    "emerging_topic",
]
Severity = Literal["info", "warning", "critical"]
Status = Literal["open", "resolved"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class Alert(msgspec.Struct, kw_only=True):
    """One finding (a row of marts.alerts): what moved, where, from what to what, on how many answers."""

    rule: Rule
    severity: Severity
    scope: str  # all | channel:<name> | touchpoint:<name> | segment:<name>
    message: str
    message_fr: str
    dedupe_key: str
    kpi: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    baseline_value: float | None = None
    current_value: float | None = None
    delta: float | None = None
    n_current: int | None = None
    n_baseline: int | None = None
    p_value: float | None = None
    evidence: str | None = None
    alert_id: str = ""  # set when the alert is recorded (quality.alerts.apply, or the hot path)
    status: Status = "open"
    first_fired_at: datetime | None = None
    last_seen_at: datetime | None = None
    resolved_at: datetime | None = None
    incident_id: str | None = None
    # a finding on one answer (detractor_complaint): the answer, and the contact or case it concerns
    response_id: str | None = None
    case_id: str | None = None
    contact_id: str | None = None

    def __post_init__(self) -> None:
        if self.delta is None and self.current_value is not None and self.baseline_value is not None:
            self.delta = self.current_value - self.baseline_value


class Incident(msgspec.Struct, kw_only=True):
    """What people are notified of (a row of marts.incidents): findings that one root cause explains."""

    incident_id: str
    status: Status
    severity: Severity
    opened_at: datetime
    last_seen_at: datetime
    root_scope: str  # the smallest scope that explains the change
    explained_share: float | None  # share of the parent scope's change that root_scope accounts for
    kpis: list[str]
    alerts: int  # member findings
    headline: str
    headline_fr: str
    evidence: list[str] = []
    resolved_at: datetime | None = None
    root_kpi: str | None = None  # the KPI the root was localised on
    parent_scope: str | None = None  # the scope explained_share refers to
    rate_share: float | None = None  # of the parent's change: scores that moved inside the root
    mix_share: float | None = None  # of the parent's change: answers that moved toward / away from the root
    levers: list[str] = []  # service levers (wait, abandonment, FCR, handling time) that moved with it
    window_start: datetime | None = None
    window_end: datetime | None = None


class DigestItem(msgspec.Struct, kw_only=True):
    kpi: str
    scope: str
    label_en: str
    label_fr: str
    value: float | None
    target: float | None
    unit: str
    n: int | None
    red_since: str | None  # first period start (YYYY-MM-DD) of the uninterrupted red run
    trend: str | None  # up | down | flat


class _Message(msgspec.Struct, kw_only=True, tag_field="kind"):
    message: str
    message_fr: str


class IncidentNotice(_Message, tag="incident"):
    """An incident opened, changed severity or resolved: one message, never one per finding."""

    # snooze_ended: still open when the snooze people set on it ended (quality.lifecycle)
    event: Literal["opened", "severity_changed", "resolved", "snooze_ended"]
    incident: Incident
    findings: list[Alert] = []


class TargetDigest(_Message, tag="digest"):
    """The KPIs red against their target in one period: one message per period, delivered once."""

    digest_id: str
    period_type: Literal["week", "month"]
    period_start: str
    items: list[DigestItem] = []


class HotAlert(Alert, tag_field="kind", tag="hot"):
    """A single answer that needs a call back within the day (streams.hot_rules): the alert's own fields,
    flat, and the answer it concerns."""

    customer_id: str
    response_id: str  # required here
    # left out of the message unless alert_include_verbatim is set (not even as null)
    verbatim: str | msgspec.UnsetType = msgspec.UNSET


AlertsMessage = IncidentNotice | TargetDigest | HotAlert

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AlertsMessage)


def encode(message: AlertsMessage) -> bytes:
    return _encoder.encode(message)


def decode(value: bytes) -> AlertsMessage:
    return _decoder.decode(value)
