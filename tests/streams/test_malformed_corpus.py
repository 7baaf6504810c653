"""The bad-input corpus (tests/data/malformed/cases.toml) through the real decoder, and property tests
of what test_contracts.py does not fuzz: structured garbage around a valid envelope, byte mutations of
valid messages, verbatim text through a landing file, score ranges and timestamp bounds."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.contracts import ContractError, SurveyResponse, decode_survey, decode_touchpoint
from streams.landing import SURVEY_SCHEMA, TOUCHPOINT_SCHEMA, events_table
from tests.streams.test_contracts import CONTACT, SURVEY  # the valid envelopes mutated below

CORPUS = Path(__file__).resolve().parent.parent / "data" / "malformed"
MANIFEST = tomllib.loads((CORPUS / "cases.toml").read_text())["case"]
DECODERS = {"touchpoints": decode_touchpoint, "surveys": decode_survey}
REASON_CLASSES = ("empty message", "not UTF-8", "not JSON", "not a JSON object", "contract:")


def generated_case(case: dict) -> bytes:
    """The cases too big to commit, built to their exact size (or verbatim length)."""
    assert case["generate"] in (
        "survey_with_large_verbatim",
        "survey_with_large_unknown_field",
        "survey_with_verbatim_chars",
    )
    head = {
        "response_id": f"sv-{case['name']}",
        "occurred_at": "2026-03-10T10:00:00Z",
        "customer_id": "corpus-cust",
        "channel": "chat",
        "touchpoint": "web_chat",
        "survey": "post_contact",
        "nps": 3,
        "verbatim": "",
    }
    if case["generate"] == "survey_with_verbatim_chars":
        head["verbatim"] = "é" * case["chars"]
        return json.dumps(head, ensure_ascii=False).encode()
    field = "verbatim" if case["generate"] == "survey_with_large_verbatim" else "attachment_text"
    head[field] = ""
    empty = json.dumps(head).encode()
    head[field] = "long answer. " * ((case["size"] - len(empty)) // 13 + 1)
    raw = json.dumps(head).encode()
    return raw[: len(empty) - 2] + raw[len(empty) - 2 : case["size"] - 2] + b'"}'


def case_name(case: dict) -> str:
    return case.get("file") or case["name"]


def case_bytes(case: dict) -> bytes:
    return (CORPUS / case["file"]).read_bytes() if "file" in case else generated_case(case)


def corpus_params() -> list:
    return [pytest.param(case, id=case_name(case)) for case in MANIFEST]


def test_manifest_and_folder_agree() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "cases.toml"}
    listed = [c["file"] for c in MANIFEST if "file" in c]
    assert sorted(listed) == sorted(files), "every corpus file has exactly one manifest entry"
    for case in MANIFEST:
        assert case["kind"] in DECODERS and case["outcome"] in ("dead_letter", "loaded", "duplicate", "aborted"), case
        assert (case["outcome"] == "aborted") == (case.get("transaction") == "aborted"), case
        assert ("reason" in case) == (case["outcome"] == "dead_letter"), case
        assert ("duplicate_of" in case) == (case["outcome"] == "duplicate"), case
    assert sum(1 for c in MANIFEST if c["outcome"] == "dead_letter") >= 30


def test_generated_cases_have_their_exact_size() -> None:
    for case in (c for c in MANIFEST if "generate" in c):
        raw = generated_case(case)
        if "chars" in case:
            assert len(json.loads(raw)["verbatim"]) == case["chars"]
            continue
        assert len(raw) == case["size"]
        assert json.loads(raw)["response_id"] == f"sv-{case['name']}"


@pytest.mark.parametrize("case", corpus_params())
def test_corpus_case_through_the_real_decoder(case: dict) -> None:
    raw = case_bytes(case)
    decode = DECODERS[case["kind"]]
    if case["outcome"] == "dead_letter":
        with pytest.raises(ContractError) as info:
            decode(raw, datetime.now(UTC))
        assert case["reason"] in info.value.reason
        assert info.value.reason.startswith(REASON_CLASSES)
    else:
        event = decode(raw, datetime.now(UTC))
        document = json.loads(raw)
        id_field = "event_id" if case["kind"] == "touchpoints" else "response_id"
        assert getattr(event, id_field) == document[id_field]
        for name, value in document.items():  # every text field we store is kept exactly
            if isinstance(value, str) and hasattr(event, name) and name != "occurred_at":
                assert getattr(event, name) == value, name


def test_the_duplicate_cases_really_share_an_id_and_differ() -> None:
    for case in (c for c in MANIFEST if c["outcome"] == "duplicate"):
        first = json.loads((CORPUS / case["duplicate_of"]).read_bytes())
        second = json.loads((CORPUS / case["file"]).read_bytes())
        id_field = "event_id" if case["kind"] == "touchpoints" else "response_id"
        assert first[id_field] == second[id_field] and first != second


# -- properties --------------------------------------------------------------------------------------------
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
INJECTIONS = [
    "'); drop table raw.touchpoints; --",
    "<script>alert(1)</script>",
    '" ; select 1; /*',
    "before\x00after",
    "\u202eevil\u202c",
    "😡",
    "\\",
]
texts = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40),
)
json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=30,
)


SURVEY_FIELDS = set(SurveyResponse.__struct_fields__)


def strict_json(raw: bytes) -> object:
    """json.loads without Python's NaN/Infinity extension."""

    def refuse(token: str) -> object:
        raise ValueError(token)

    return json.loads(raw, parse_constant=refuse)


@settings(max_examples=200, deadline=None)
@given(
    extra=st.dictionaries(st.text(max_size=12).filter(lambda k: k not in SURVEY_FIELDS), json_values),
    replaced=st.dictionaries(st.sampled_from(sorted(SURVEY)), json_values, max_size=2),
)
def test_any_json_around_a_survey_envelope_is_accepted_verbatim_or_rejected_with_a_reason(
    extra: dict, replaced: dict
) -> None:
    document = {**SURVEY, **extra, **replaced}
    raw = json.dumps(document, ensure_ascii=False).encode()
    try:
        event = decode_survey(raw, NOW)
    except ContractError as exc:
        assert exc.reason.startswith(REASON_CLASSES)
        assert replaced, f"unknown fields alone made a valid survey invalid: {exc.reason}"
    else:
        assert event.response_id == document["response_id"]
        assert event.touchpoint == document["touchpoint"] and event.customer_id == document["customer_id"]
        assert event.nps is None or 0 <= event.nps <= 10


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["touchpoints", "surveys"]))
    raw = bytearray(json.dumps(CONTACT if kind == "touchpoints" else SURVEY).encode())
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[at] = draw(st.integers(0, 255))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=6))
        elif op == "delete" and raw:
            del raw[at : at + draw(st.integers(1, 6))]
        elif op == "truncate":
            raw = raw[:at]
    return kind, bytes(raw)


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_byte_mutations_of_valid_messages_are_rejected_or_still_strict_utf8_json(case: tuple[str, bytes]) -> None:
    kind, raw = case
    try:
        event = DECODERS[kind](raw, NOW)
    except ContractError as exc:
        assert exc.reason.startswith(REASON_CLASSES)
        return
    # Whatever is accepted is stored as text and read back with JSON functions: it must be both.
    document = strict_json(raw)
    assert isinstance(document, dict)
    id_field = "event_id" if kind == "touchpoints" else "response_id"
    assert getattr(event, id_field) == document[id_field]


@settings(max_examples=150, deadline=None)
@given(verbatim=texts, touchpoint=texts, reason=texts)
def test_text_fields_survive_a_landing_file_byte_for_byte(verbatim: str, touchpoint: str, reason: str) -> None:
    survey_raw = json.dumps({**SURVEY, "verbatim": verbatim, "touchpoint": touchpoint}, ensure_ascii=False).encode()
    contact_raw = json.dumps({**CONTACT, "reason": reason, "touchpoint": touchpoint}, ensure_ascii=False).encode()
    for kind, raw, schema, fields in (
        ("surveys", survey_raw, SURVEY_SCHEMA, {"verbatim": verbatim, "touchpoint": touchpoint}),
        ("touchpoints", contact_raw, TOUCHPOINT_SCHEMA, {"reason": reason, "touchpoint": touchpoint}),
    ):
        event = DECODERS[kind](raw, NOW)
        sink = pa.BufferOutputStream()
        pq.write_table(events_table(kind, [event], [raw], [7], f"cx.{kind}", 0), sink)
        table = pq.read_table(pa.BufferReader(sink.getvalue()))
        assert table.schema.equals(schema)
        row = table.to_pylist()[0]
        assert row["payload"] == raw and row["kafka_offset"] == 7
        assert {name: row[name] for name in fields} == fields


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["nps", "csat", "ces", "expected"]), value=st.integers(-1000, 1000))
def test_a_score_is_kept_exactly_inside_its_scale_and_dead_lettered_outside(field: str, value: int) -> None:
    low, high = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "expected": (1, 5)}[field]
    raw = json.dumps({**SURVEY, field: value}).encode()
    if low <= value <= high:
        assert getattr(decode_survey(raw, NOW), field) == value
    else:
        with pytest.raises(ContractError) as info:
            decode_survey(raw, NOW)
        assert info.value.reason.startswith("contract:") and f"`$.{field}`" in info.value.reason


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
)
def test_any_timestamp_up_to_one_day_ahead_is_legal_and_stored_as_the_same_instant(
    moment: datetime, offset_minutes: int
) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assume(datetime(1, 1, 1, tzinfo=UTC) < aware.astimezone(UTC) < datetime(9999, 12, 31, tzinfo=UTC))
    raw = json.dumps({**SURVEY, "occurred_at": aware.isoformat()}).encode()
    if aware - NOW <= timedelta(days=1):
        assert decode_survey(raw, NOW).occurred_at == aware  # no lower bound: the contract sets none
    else:
        with pytest.raises(ContractError) as info:
            decode_survey(raw, NOW)
        assert "more than 1 day after the consumer clock" in info.value.reason
