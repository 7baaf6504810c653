"""Event contracts (docs/design.md): the single definition of what a valid message is.

msgspec validates while it decodes (one pass over the bytes, no intermediate dict), which keeps
validation far from being the consumer's bottleneck. Rules that a type cannot express (fields
required only for some outcomes, "at least one score", the future bound on `occurred_at`) live in
`_cross_field_errors`, next to the types, so this file stays the one place that says what is valid.
JSON Schema files in docs/contracts/ are generated from these classes (`streams.jsonschema`).
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

# Every string has a length limit (in characters): a longer one is a contract violation (dead letter),
# so no single field can make a row, an alert or a dashboard cell arbitrarily large. Identifiers as
# docs/design.md says; names (touchpoint, journey, segment, reason, category) far above any real queue or
# page name; a language tag up to the 35 characters RFC 5646 asks implementations to support; a
# verbatim up to 20 000 characters (survey tools cap free-text answers around there).
ID_MAX, NAME_MAX, LANGUAGE_MAX, VERBATIM_MAX = 128, 256, 35, 20_000
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX)]
OptionalId = Annotated[str, msgspec.Meta(max_length=ID_MAX)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX)]
Name = Annotated[str, msgspec.Meta(max_length=NAME_MAX)]
Language = Annotated[str, msgspec.Meta(max_length=LANGUAGE_MAX)]
Verbatim = Annotated[str, msgspec.Meta(max_length=VERBATIM_MAX)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]
Euros = Annotated[float, msgspec.Meta(ge=0)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset; stored in UTC")]

MAX_FUTURE = timedelta(days=1)


class Channel(enum.StrEnum):
    phone = "phone"
    chat = "chat"
    email = "email"
    web = "web"
    app = "app"
    store = "store"
    social = "social"
    mail = "mail"


class Emotion(enum.StrEnum):
    joy = "joy"
    surprise = "surprise"
    sadness = "sadness"
    fear = "fear"
    anger = "anger"
    disgust = "disgust"


class _Touchpoint(msgspec.Struct, kw_only=True, tag_field="event_type", frozen=True):
    event_id: Id
    occurred_at: Timestamp
    customer_id: Id
    channel: Channel
    touchpoint: Text
    journey: Name | None = None
    segment: Name | None = None


class Contact(_Touchpoint, tag="contact"):
    contact_id: Id
    outcome: Literal["answered", "abandoned"]
    wait_s: Seconds
    reason: Text
    talk_s: Seconds | None = None
    hold_s: Seconds | None = None
    acw_s: Seconds | None = None
    agent_id: OptionalId | None = None


class CaseOpened(_Touchpoint, tag="case_opened"):
    case_id: Id
    reason: Text
    is_complaint: bool = False
    category: Name | None = None


class CaseReplied(_Touchpoint, tag="case_replied"):
    case_id: Id
    handle_s: Seconds | None = None


class CaseResolved(_Touchpoint, tag="case_resolved"):
    case_id: Id
    handle_s: Seconds | None = None
    compensation_eur: Euros = 0.0


class CaseReopened(_Touchpoint, tag="case_reopened"):
    case_id: Id


class JourneyStep(_Touchpoint, tag="journey_step"):
    step_status: Literal["ok", "failed", "abandoned"]
    duration_s: Seconds | None = None


TouchpointEvent = Contact | CaseOpened | CaseReplied | CaseResolved | CaseReopened | JourneyStep
TOUCHPOINT_TYPES: tuple[type[_Touchpoint], ...] = (
    Contact,
    CaseOpened,
    CaseReplied,
    CaseResolved,
    CaseReopened,
    JourneyStep,
)


class SurveyResponse(msgspec.Struct, kw_only=True, frozen=True):
    response_id: Id
    occurred_at: Timestamp
    customer_id: Id
    channel: Channel
    touchpoint: Text
    survey: Literal["post_contact", "post_journey", "relationship"]
    journey: Name | None = None
    segment: Name | None = None
    contact_id: OptionalId | None = None
    case_id: OptionalId | None = None
    nps: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    ces: Annotated[int, msgspec.Meta(ge=1, le=7)] | None = None
    expected: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    emotion: Emotion | None = None
    verbatim: Verbatim | None = None
    language: Language | None = None


class ContractError(ValueError):
    """A message breaks the contract; `reason` is the precise, human-readable cause."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_touchpoint_decoder = msgspec.json.Decoder(TouchpointEvent)
_survey_decoder = msgspec.json.Decoder(SurveyResponse)


def _cross_field_errors(event: TouchpointEvent | SurveyResponse, now: datetime) -> str | None:
    if event.occurred_at - now > MAX_FUTURE:
        moment = event.occurred_at.isoformat()
        return f"occurred_at {moment} is more than 1 day after the consumer clock - at `$.occurred_at`"
    if isinstance(event, Contact) and event.outcome == "answered":
        for name in ("talk_s", "hold_s", "acw_s"):
            if getattr(event, name) is None:
                return f"Object missing required field `{name}` (required when outcome is answered)"
    elif isinstance(event, CaseOpened) and event.is_complaint and not event.category:
        return "Object missing required field `category` (required when is_complaint is true)"
    elif isinstance(event, SurveyResponse) and event.nps is None and event.csat is None and event.ces is None:
        return "at least one of `nps`, `csat`, `ces` must be present"
    return None


def _decode(decoder: msgspec.json.Decoder, value: bytes | None, now: datetime):
    if not value:
        raise ContractError("empty message")
    try:
        # msgspec skips unknown fields without checking their bytes; the payload is kept verbatim
        # as text downstream, so the whole message must be UTF-8, not only the fields we read.
        value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        event = decoder.decode(value)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.startswith("Expected `object`, got"):
            raise ContractError(f"not a JSON object: {text[len('Expected `object`, ') :]}") from None
        raise ContractError(f"contract: {text}") from None
    except msgspec.DecodeError as exc:
        raise ContractError(f"not JSON: {exc}") from None
    except RecursionError as exc:
        # msgspec gives up on JSON nested deeper than the recursion limit (~1000 levels), even inside
        # an unknown field: a contract error like any other, not a crash (it was a poison pill).
        raise ContractError(f"not JSON: nested too deeply ({exc})") from None
    problem = _cross_field_errors(event, now)
    if problem:
        raise ContractError(f"contract: {problem}")
    return event


def decode_touchpoint(value: bytes | None, now: datetime) -> TouchpointEvent:
    """Decode and validate one `cx.touchpoints` message or raise ContractError with the reason."""
    return _decode(_touchpoint_decoder, value, now)


def decode_survey(value: bytes | None, now: datetime) -> SurveyResponse:
    """Decode and validate one `cx.surveys` message or raise ContractError with the reason."""
    return _decode(_survey_decoder, value, now)
