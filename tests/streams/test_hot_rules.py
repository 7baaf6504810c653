"""Hot alert texts stay small whatever the answer: cut to ALERT_TEXT_MAX characters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from streams.alert_contract import encode
from streams.contracts import ID_MAX, NAME_MAX, VERBATIM_MAX, decode_survey
from streams.hot_rules import ALERT_TEXT_MAX, detractor_alert
from tests.streams.test_contracts import SURVEY


def test_the_largest_valid_answer_makes_an_alert_of_a_few_kilobytes() -> None:
    largest = {
        "response_id": "r" * ID_MAX,
        "occurred_at": "2026-03-10T10:00:00Z",
        "customer_id": "c" * ID_MAX,
        "channel": "chat",
        "touchpoint": "t" * NAME_MAX,
        "survey": "post_contact",
        "case_id": "k" * ID_MAX,
        "nps": 0,
        "verbatim": "v" * VERBATIM_MAX,
    }
    event = decode_survey(json.dumps(largest).encode(), datetime.now(UTC))
    alert = detractor_alert(event, with_complaint=True, include_verbatim=True)
    for name in ("message", "message_fr", "verbatim"):
        assert len(getattr(alert, name)) <= ALERT_TEXT_MAX, name
    assert alert.verbatim.endswith("…") and alert.verbatim.startswith("vvv")
    assert len(encode(alert)) < 8_000


def test_short_texts_are_kept_whole() -> None:
    answer = {**SURVEY, "nps": 1, "verbatim": "Personne ne me rappelle"}
    alert = detractor_alert(decode_survey(json.dumps(answer).encode(), datetime.now(UTC)), False, True)
    assert alert.verbatim == "Personne ne me rappelle" and "…" not in alert.message
