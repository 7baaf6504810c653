"""Hot path: rules on single survey answers that alert the CX team within seconds (closed loop).

Evaluated by the consumer on every valid message, before batching. Delivery on `cx.alerts` is
at-least-once (a crash before the batch is durable replays it); `dedupe_key` identifies the answer.
Alerts carry the pseudonymous customer id of the event, and the verbatim only when configured.
Texts (`message`, `message_fr`, `verbatim`) are cut to ALERT_TEXT_MAX characters, ending in "…": with
the contract's field limits, an alert stays a few KB whatever the answer.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import UTC, datetime

import msgspec

from cxpulse.config import Settings
from streams.alert_contract import HotAlert, encode
from streams.contracts import CaseOpened, SurveyResponse

MAX_REMEMBERED_CASES = 200_000
ALERT_TEXT_MAX = 1_000


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= ALERT_TEXT_MAX:
        return text
    return text[: ALERT_TEXT_MAX - 1] + "…"


class HotRules:
    def __init__(self, settings: Settings, send) -> None:
        """`send(topic, value: bytes, key: bytes)` publishes one message (the consumer's producer)."""
        self.settings = settings
        self.send = send
        self.complaint_cases: OrderedDict[str, None] = OrderedDict()

    def observe(self, kind: str, event: object) -> HotAlert | None:
        if isinstance(event, CaseOpened) and event.is_complaint:
            self.complaint_cases[event.case_id] = None
            if len(self.complaint_cases) > MAX_REMEMBERED_CASES:
                self.complaint_cases.popitem(last=False)
            return None
        if not isinstance(event, SurveyResponse) or event.nps is None:
            return None
        with_complaint = event.case_id is not None and event.case_id in self.complaint_cases
        if not (
            event.nps <= self.settings.hot_detractor_nps_max
            or (with_complaint and event.nps <= self.settings.hot_complaint_nps_max)
        ):
            return None
        alert = detractor_alert(event, with_complaint, self.settings.alert_include_verbatim)
        self.send(self.settings.topic_alerts, encode(alert), alert.dedupe_key.encode())
        return alert


def detractor_alert(event: SurveyResponse, with_complaint: bool, include_verbatim: bool) -> HotAlert:
    when = event.occurred_at.astimezone(UTC)
    now = datetime.now(UTC)
    complaint_en = f" about complaint case {event.case_id}" if with_complaint else ""
    complaint_fr = f" sur la réclamation {event.case_id}" if with_complaint else ""
    return HotAlert(
        alert_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse:detractor:{event.response_id}")),
        rule="detractor_complaint",
        severity="critical" if with_complaint else "warning",
        kpi="nps",
        scope=f"touchpoint:{event.touchpoint}",
        window_start=when,
        window_end=when,
        current_value=event.nps,
        n_current=1,
        message=_cut(
            f"Customer {event.customer_id} gave NPS {event.nps}{complaint_en} after {event.channel} "
            f"at {event.touchpoint} on {when:%Y-%m-%d %H:%M} UTC: call them back."
        ),
        message_fr=_cut(
            f"Le client {event.customer_id} a donné un NPS de {event.nps}{complaint_fr} après "
            f"{event.channel} ({event.touchpoint}) le {when:%d/%m/%Y à %H:%M} UTC : à rappeler."
        ),
        first_fired_at=now,
        last_seen_at=now,
        dedupe_key=f"detractor_complaint|{event.response_id}",
        customer_id=event.customer_id,
        response_id=event.response_id,
        case_id=event.case_id,
        verbatim=_cut(event.verbatim) if include_verbatim and event.verbatim is not None else msgspec.UNSET,
    )
