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
from streams import formatting
from streams.alert_contract import HotAlert, encode
from streams.contracts import CaseOpened, SurveyResponse

RULE = "detractor_complaint"  # the rule of its alerts, in the consumer's messages and marts.alerts
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
        if not fires(event.nps, with_complaint, self.settings):
            return None
        alert = detractor_alert(event, with_complaint, self.settings.alert_include_verbatim)
        self.send(self.settings.topic_alerts, encode(alert), alert.dedupe_key.encode())
        return alert


def fires(nps: int | None, with_complaint: bool, settings: Settings) -> bool:
    """The detractor rule, its one definition (the consumer on each answer, quality.hot_alerts in the batch):
    NPS <= hot_detractor_nps_max, or NPS <= hot_complaint_nps_max on an answer about a complaint case."""
    if nps is None:
        return False
    return nps <= settings.hot_detractor_nps_max or (with_complaint and nps <= settings.hot_complaint_nps_max)


def detractor_alert(
    event: SurveyResponse, with_complaint: bool, include_verbatim: bool, *, name_customer: bool = True
) -> HotAlert:
    """The alert for one answer; `name_customer=False` leaves the customer id out of the texts (the warehouse
    copy, which is published in the BI snapshot: docs/design.md)."""
    when = event.occurred_at.astimezone(UTC)
    now = datetime.now(UTC)
    complaint_en = f" about complaint case {event.case_id}" if with_complaint else ""
    complaint_fr = f" sur la réclamation {event.case_id}" if with_complaint else ""
    who_en = f"Customer {event.customer_id}" if name_customer else f"A customer (answer {event.response_id})"
    who_fr = f"Le client {event.customer_id}" if name_customer else f"Un client (réponse {event.response_id})"
    return HotAlert(
        alert_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse:detractor:{event.response_id}")),
        rule=RULE,
        severity="critical" if with_complaint else "warning",
        kpi="nps",
        scope=f"touchpoint:{event.touchpoint}",
        window_start=when,
        window_end=when,
        current_value=event.nps,
        n_current=1,
        message=_cut(
            f"{who_en} gave NPS {event.nps}{complaint_en} after {event.channel} "
            f"at {event.touchpoint} on {formatting.moment(when)} UTC: call them back."
        ),
        message_fr=_cut(
            f"{who_fr} a donné un NPS de {event.nps}{complaint_fr} après un échange sur "
            f"{formatting.scope_name(f'channel:{event.channel}', True)} ({event.touchpoint}) le "
            f"{formatting.moment(when, True)} UTC : à rappeler."
        ),
        first_fired_at=now,
        last_seen_at=now,
        dedupe_key=f"{RULE}|{event.response_id}",
        customer_id=event.customer_id,
        response_id=event.response_id,
        case_id=event.case_id,
        contact_id=event.contact_id,
        verbatim=_cut(event.verbatim) if include_verbatim and event.verbatim is not None else msgspec.UNSET,
    )
