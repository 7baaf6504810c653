"""One test per contract rule of the event contracts (docs/design.md), plus property tests of the decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams import jsonschema
from streams.contracts import (
    CaseOpened,
    CaseResolved,
    Contact,
    ContractError,
    SurveyResponse,
    decode_survey,
    decode_touchpoint,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
CONTACT = {
    "event_id": "e1",
    "event_type": "contact",
    "occurred_at": "2026-03-10T01:30:00+02:00",
    "customer_id": "c1",
    "channel": "phone",
    "touchpoint": "billing_hotline",
    "contact_id": "k1",
    "outcome": "answered",
    "wait_s": 12.5,
    "talk_s": 300,
    "hold_s": 0,
    "acw_s": 30,
    "reason": "billing",
}
SURVEY = {
    "response_id": "r1",
    "occurred_at": "2026-03-10T10:00:00Z",
    "customer_id": "c1",
    "channel": "chat",
    "touchpoint": "web_chat",
    "survey": "post_contact",
    "nps": 9,
}


def tp(**changes: object) -> bytes:
    event = {**CONTACT, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def sv(**changes: object) -> bytes:
    event = {**SURVEY, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


def reason_of(decode, raw: bytes) -> str:
    with pytest.raises(ContractError) as info:
        decode(raw, NOW)
    return info.value.reason


def test_valid_contact_is_decoded_and_timestamp_normalised_to_utc() -> None:
    event = decode_touchpoint(tp(), NOW)
    assert isinstance(event, Contact)
    assert event.occurred_at.astimezone(UTC) == datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert event.wait_s == 12.5


def test_unknown_extra_fields_are_accepted() -> None:
    assert decode_touchpoint(tp(new_field={"nested": [1, 2]}), NOW).event_id == "e1"


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"", "empty message"),
        (None, "empty message"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"event_id": "\xff"}', "not UTF-8"),
        (b'{"event_id": ', "not JSON"),
        (b"NaN", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
    ],
)
def test_bytes_that_are_not_a_json_object_are_rejected_with_their_class(raw: bytes, expected: str) -> None:
    assert reason_of(decode_touchpoint, raw).startswith(expected)
    assert reason_of(decode_survey, raw).startswith(expected)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"event_id": ...}, "missing required field `event_id`"),
        ({"event_id": ""}, "$.event_id"),
        ({"event_id": "x" * 129}, "$.event_id"),
        ({"customer_id": ...}, "missing required field `customer_id`"),
        ({"customer_id": ""}, "$.customer_id"),
        ({"event_type": "teleport"}, "$.event_type"),
        ({"event_type": ...}, "missing required field `event_type`"),
        ({"channel": "pigeon"}, "$.channel"),
        ({"touchpoint": ...}, "missing required field `touchpoint`"),
        ({"occurred_at": ...}, "missing required field `occurred_at`"),
        ({"occurred_at": "2026-03-10T01:30:00"}, "timezone"),
        ({"occurred_at": "yesterday"}, "$.occurred_at"),
        ({"occurred_at": "2026-03-16T12:00:01Z"}, "more than 1 day after"),
        ({"outcome": "maybe"}, "$.outcome"),
        ({"outcome": ...}, "missing required field `outcome`"),
        ({"wait_s": -1}, "$.wait_s"),
        ({"wait_s": "12"}, "$.wait_s"),
        ({"wait_s": ...}, "missing required field `wait_s`"),
        ({"reason": ...}, "missing required field `reason`"),
        ({"contact_id": ...}, "missing required field `contact_id`"),
        ({"talk_s": ...}, "`talk_s` (required when outcome is answered)"),
        ({"acw_s": -5}, "$.acw_s"),
    ],
)
def test_contact_rules(changes: dict, fragment: str) -> None:
    assert fragment in reason_of(decode_touchpoint, tp(**changes))


def test_overflowing_number_is_rejected_not_stored_as_infinity() -> None:
    assert "Number out of range - at `$.wait_s`" in reason_of(
        decode_touchpoint, tp(wait_s=12345).replace(b"12345", b"1e999")
    )


def test_future_bound_is_one_day_inclusive() -> None:
    at_bound = (NOW + timedelta(days=1)).isoformat()
    assert decode_touchpoint(tp(occurred_at=at_bound), NOW).event_id == "e1"


def test_abandoned_contact_needs_no_handling_times() -> None:
    event = decode_touchpoint(tp(outcome="abandoned", talk_s=..., hold_s=..., acw_s=...), NOW)
    assert event.outcome == "abandoned" and event.talk_s is None


def test_case_rules() -> None:
    base = {k: CONTACT[k] for k in ("event_id", "occurred_at", "customer_id", "channel", "touchpoint")}
    opened = decode_touchpoint(
        json.dumps({**base, "event_type": "case_opened", "case_id": "k", "reason": "billing"}).encode(), NOW
    )
    assert isinstance(opened, CaseOpened) and opened.is_complaint is False
    complaint = json.dumps(
        {**base, "event_type": "case_opened", "case_id": "k", "reason": "billing", "is_complaint": True}
    ).encode()
    assert "`category` (required when is_complaint is true)" in reason_of(decode_touchpoint, complaint)
    resolved = decode_touchpoint(json.dumps({**base, "event_type": "case_resolved", "case_id": "k"}).encode(), NOW)
    assert isinstance(resolved, CaseResolved) and resolved.compensation_eur == 0
    negative = json.dumps({**base, "event_type": "case_resolved", "case_id": "k", "compensation_eur": -1}).encode()
    assert "$.compensation_eur" in reason_of(decode_touchpoint, negative)
    for event_type in ("case_replied", "case_resolved", "case_reopened"):
        missing = json.dumps({**base, "event_type": event_type}).encode()
        assert "missing required field `case_id`" in reason_of(decode_touchpoint, missing)
    step = json.dumps({**base, "event_type": "journey_step", "step_status": "lost"}).encode()
    assert "$.step_status" in reason_of(decode_touchpoint, step)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"nps": 11}, "$.nps"),
        ({"nps": -1}, "$.nps"),
        ({"nps": 7.5}, "$.nps"),
        ({"nps": True}, "$.nps"),
        ({"csat": 0}, "$.csat"),
        ({"csat": 6}, "$.csat"),
        ({"ces": 8}, "$.ces"),
        ({"ces": 0}, "$.ces"),
        ({"expected": 6}, "$.expected"),
        ({"emotion": "boredom"}, "$.emotion"),
        ({"survey": "exit"}, "$.survey"),
        ({"response_id": ...}, "missing required field `response_id`"),
        ({"nps": None}, "at least one of `nps`, `csat`, `ces`"),
    ],
)
def test_survey_rules(changes: dict, fragment: str) -> None:
    assert fragment in reason_of(decode_survey, sv(**changes))


def test_survey_with_only_ces_is_valid() -> None:
    event = decode_survey(sv(nps=..., ces=6, emotion=None), NOW)
    assert isinstance(event, SurveyResponse) and event.nps is None and event.ces == 6


def test_json_schema_files_are_up_to_date() -> None:
    for name, text in jsonschema.render().items():
        path = jsonschema.CONTRACTS_DIR / name
        assert path.read_text() == text, f"{path} is stale: run `python -m streams.jsonschema`"


# -- properties ---------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_never_raises_anything_but_contract_error(raw: bytes) -> None:
    for decode in (decode_touchpoint, decode_survey):
        try:
            decode(raw, NOW)
        except ContractError as exc:
            assert exc.reason
        # any other exception fails the test


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(CONTACT)), json_values, max_size=6))
def test_any_field_mutation_is_either_valid_or_rejected_with_a_reason(mutation: dict) -> None:
    raw = json.dumps({**CONTACT, **mutation}).encode()
    try:
        event = decode_touchpoint(raw, NOW)
    except ContractError as exc:
        assert exc.reason.startswith(("contract:", "not"))
    else:
        assert event.event_id and event.customer_id and event.wait_s >= 0


# -- string length limits ----------------------------------------------------------------------------------
LIMITS = [
    ("touchpoints", "event_id", 128),
    ("touchpoints", "customer_id", 128),
    ("touchpoints", "contact_id", 128),
    ("touchpoints", "agent_id", 128),
    ("touchpoints", "touchpoint", 256),
    ("touchpoints", "journey", 256),
    ("touchpoints", "segment", 256),
    ("touchpoints", "reason", 256),
    ("surveys", "response_id", 128),
    ("surveys", "case_id", 128),
    ("surveys", "contact_id", 128),
    ("surveys", "language", 35),
    ("surveys", "verbatim", 20_000),
]


@pytest.mark.parametrize(("kind", "name", "limit"), LIMITS)
def test_every_string_field_has_a_length_limit_in_characters(kind: str, name: str, limit: int) -> None:
    build, decode = (tp, decode_touchpoint) if kind == "touchpoints" else (sv, decode_survey)
    assert getattr(decode(build(**{name: "é" * limit}), NOW), name) == "é" * limit  # characters, not bytes
    with pytest.raises(ContractError, match=rf"length <= {limit} - at `\$\.{name}`"):
        decode(build(**{name: "é" * (limit + 1)}), NOW)


def test_the_json_schema_gives_every_free_string_a_max_length() -> None:
    unlimited = []
    inputs = {name: text for name, text in jsonschema.render().items() if name != "cx.alerts.schema.json"}
    for name, text in inputs.items():  # cx.alerts is what we write: its texts are cut (hot_rules.ALERT_TEXT_MAX)

        def walk(node: object, path: str) -> None:
            if isinstance(node, dict):
                if node.get("type") == "string" and "enum" not in node and "format" not in node:
                    if "maxLength" not in node and "const" not in node:
                        unlimited.append(path)
                for key, value in node.items():
                    walk(value, f"{path}.{key}")
            elif isinstance(node, list):
                for i, value in enumerate(node):
                    walk(value, f"{path}[{i}]")

        walk(json.loads(text), name)
    assert not unlimited, unlimited
