"""What a run injects (`nps-drop`, `wait-spike`, `complaint-burst`, `mix-shift`, `journey-rupture`) and
the options of a run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from streams.simulator.world import CATEGORY_NAMES, CHANNEL_NAMES, QUEUE_NAMES, SEGMENT_NAMES, SURVEY_TOUCHPOINTS

# -- scenarios ------------------------------------------------------------------------------------------
_SCENARIO_SCOPES: dict[str, tuple[str, ...]] = {
    "nps-drop": ("channel", "segment", "touchpoint"),
    "wait-spike": ("queue",),
    "complaint-burst": ("category",),
    "mix-shift": ("channel",),
    "journey-rupture": ("journey", "step"),
}
_SCENARIO_MAGNITUDE: dict[str, tuple[str, float]] = {
    "nps-drop": ("points", 15.0),
    "wait-spike": ("factor", 3.0),
    "complaint-burst": ("factor", 4.0),
    "mix-shift": ("factor", 3.0),
    "journey-rupture": ("factor", 4.0),
}
# optional keys of a kind beyond its scope, `from` and its magnitude
_SCENARIO_OPTIONS: dict[str, tuple[str, ...]] = {"nps-drop": ("ramp",)}
# The journey steps whose risk a journey-rupture scenario can raise (abandon for the purchase funnel's
# first steps, failure for the others): each is a draw of streams/simulator/stories.py.
RUPTURE_STEPS: tuple[str, ...] = (
    "purchase/product_page",
    "purchase/cart",
    "purchase/checkout",
    "purchase/payment",
    "delivery/home_delivery",
    "support/self_repair",
    "onboarding/identity_check",
    "onboarding/activation",
    "billing/login",
    "support/login",
)
_SCOPE_VALUES: dict[str, tuple[str, ...]] = {
    "channel": CHANNEL_NAMES,
    "segment": SEGMENT_NAMES,
    "touchpoint": SURVEY_TOUCHPOINTS,
    "queue": QUEUE_NAMES,
    "category": CATEGORY_NAMES,
    "step": RUPTURE_STEPS,
}
_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([dh])$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([dh])$")


@dataclass(frozen=True)
class Scenario:
    """A change of the simulated process from a moment on (see `parse_scenario` for the syntax)."""

    kind: str  # nps-drop | wait-spike | complaint-burst | mix-shift | journey-rupture
    # channel | segment | touchpoint (nps-drop), queue (wait-spike), category (complaint-burst), channel
    # (mix-shift), step (journey-rupture, value '<journey>/<step>')
    dimension: str
    value: str
    magnitude: float  # NPS points (nps-drop) or a factor (the others)
    since: str = "-7d"  # -Nd / -Nh before the end of the simulation, or a UTC date YYYY-MM-DD
    ramp: str = ""  # nps-drop: Nd / Nh over which the drop grows from 0 to its points ("": at once)

    @property
    def ramp_seconds(self) -> int:
        found = _DURATION.match(self.ramp)
        if not found:
            return 0
        return round(float(found.group(1)) * (86_400 if found.group(2) == "d" else 3_600))

    def starts_at(self, end: datetime) -> datetime:
        relative = _RELATIVE.match(self.since)
        if relative:
            amount = float(relative.group(1))
            return end - (timedelta(days=amount) if relative.group(2) == "d" else timedelta(hours=amount))
        return datetime.combine(date.fromisoformat(self.since), datetime.min.time(), UTC)

    def describe(self, end: datetime) -> str:
        """One readable sentence, e.g. 'nps-drop: NPS on channel chat 15 points lower from 2026-11-19 14:37 UTC'."""
        when = f"from {self.starts_at(end):%Y-%m-%d %H:%M} UTC"
        if self.kind == "nps-drop":
            gradually = f", growing over {self.ramp}" if self.ramp else ""
            return f"nps-drop: NPS on {self.dimension} {self.value} {self.magnitude:g} points lower {when}{gradually}"
        if self.kind == "mix-shift":
            return f"mix-shift: survey answers of channels other than {self.value} x1/{self.magnitude:g} {when}"
        if self.kind == "wait-spike":
            return f"wait-spike: waits on queue {self.value} x{self.magnitude:g} {when}"
        if self.kind == "journey-rupture":
            journey, _, step = self.value.partition("/")
            return f"journey-rupture: risk of step {step} of journey {journey} x{self.magnitude:g} {when}"
        return f"complaint-burst: {self.value} complaints x{self.magnitude:g} {when}"

    def __str__(self) -> str:
        key = _SCENARIO_MAGNITUDE[self.kind][0]
        if self.kind == "journey-rupture":
            journey, _, step = self.value.partition("/")
            return f"{self.kind}:journey={journey}:step={step}:from={self.since}:{key}={self.magnitude:g}"
        ramp = f":ramp={self.ramp}" if self.ramp else ""
        return f"{self.kind}:{self.dimension}={self.value}:from={self.since}:{key}={self.magnitude:g}{ramp}"


def _allowed(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def parse_scenario(text: str) -> Scenario:
    """Parse `kind:key=value:key=value`, e.g. `nps-drop:channel=chat:from=-7d:points=15`.

    Kinds and keys: nps-drop (one of channel | segment | touchpoint, from, points, ramp), wait-spike
    (queue, from, factor), complaint-burst (category, from, factor), mix-shift (channel, from, factor).
    `from` is `-Nd` or `-Nh` before the end of the simulation or a UTC date `YYYY-MM-DD` (default -7d);
    points default to 15, factors to 3 (wait, mix) and 4 (complaints). `ramp=Nd` (or `Nh`) makes an
    nps-drop gradual: it grows linearly from 0 at `from` to its points N days later
    (`nps-drop:channel=chat:from=-21d:points=15:ramp=21d`: a decline over the last 3 weeks).
    `mix-shift:channel=chat:factor=3`: from `from` on, the other channels get 3 times fewer survey
    answers, so the answers move toward the chat while no channel's scores change.
    journey-rupture (journey and step, from, factor: the probability that the step goes wrong is
    multiplied by factor, at most 0.95; steps in RUPTURE_STEPS; factor default 4).
    Raises ValueError naming the bad part and what is allowed.
    """
    parts = text.strip().split(":")
    kind = parts[0]
    if kind not in _SCENARIO_SCOPES:
        raise ValueError(
            f"scenario {text!r}: unknown kind {kind!r}; allowed kinds: {_allowed(tuple(_SCENARIO_SCOPES))}"
        )
    scopes = _SCENARIO_SCOPES[kind]
    magnitude_key, magnitude = _SCENARIO_MAGNITUDE[kind]
    allowed_keys = (*scopes, "from", magnitude_key, *_SCENARIO_OPTIONS.get(kind, ()))
    found: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or not value:
            raise ValueError(
                f"scenario {text!r}: {part!r} is not key=value; allowed keys for {kind}: {_allowed(allowed_keys)}"
            )
        if key not in allowed_keys:
            raise ValueError(
                f"scenario {text!r}: unknown key {key!r} for {kind}; allowed keys: {_allowed(allowed_keys)}"
            )
        if key in found:
            raise ValueError(f"scenario {text!r}: key {key!r} given twice")
        found[key] = value
    given_scopes = [k for k in scopes if k in found]
    if kind == "journey-rupture":
        if given_scopes != ["journey", "step"]:
            raise ValueError(f"scenario {text!r}: {kind} needs both journey and step")
        given_scopes = ["step"]
        found["step"] = f"{found['journey']}/{found['step']}"
    elif len(given_scopes) != 1:
        raise ValueError(f"scenario {text!r}: {kind} needs exactly one of {_allowed(scopes)}")
    dimension = given_scopes[0]
    value = found[dimension]
    if value not in _SCOPE_VALUES[dimension]:
        raise ValueError(
            f"scenario {text!r}: unknown {dimension} {value!r}; allowed values: {_allowed(_SCOPE_VALUES[dimension])}"
        )
    since = found.get("from", "-7d")
    if not _RELATIVE.match(since):
        try:
            date.fromisoformat(since)
        except ValueError:
            raise ValueError(
                f"scenario {text!r}: from={since!r} is neither -Nd / -Nh (before the end) nor a date YYYY-MM-DD"
            ) from None
    if magnitude_key in found:
        try:
            magnitude = float(found[magnitude_key])
        except ValueError:
            raise ValueError(f"scenario {text!r}: {magnitude_key}={found[magnitude_key]!r} is not a number") from None
    if kind == "nps-drop" and not 0 < magnitude <= 100:
        raise ValueError(f"scenario {text!r}: points must be in (0, 100], got {magnitude:g}")
    if kind != "nps-drop" and not 0 < magnitude <= 50:
        raise ValueError(f"scenario {text!r}: factor must be in (0, 50], got {magnitude:g}")
    if kind == "mix-shift" and magnitude < 1:
        raise ValueError(f"scenario {text!r}: factor must be >= 1 (the other channels' answers / factor)")
    ramp = found.get("ramp", "")
    if ramp and not _DURATION.match(ramp):
        raise ValueError(f"scenario {text!r}: ramp={ramp!r} is not a duration Nd / Nh (e.g. ramp=21d)")
    return Scenario(kind, dimension, value, magnitude, since, ramp)


# -- effect sizes of the service levers ------------------------------------------------------------------
@dataclass(frozen=True)
class LeverEffects:
    """How much each service lever lowers the latent satisfaction behind an answer, in points of the 0-10
    NPS scale (CSAT follows it at half the scale, CES moves with it by 0.2 per point). The defaults are
    the simulator's calibrated world; a test plants other sizes (e.g. only `unresolved` and `wait`) and
    checks that marts.drivers ranks the levers in that order. Every value must be >= 0.

    - wait: at most this many points for a wait beyond the segment's tolerance, reached linearly at
      135 s beyond it (1 point per 45 s with the default 3).
    - unresolved: the contact did not solve the need (first-contact resolution).
    - repeat: per earlier answered contact for the same need (repeat contacts).
    - abandonment: the customer abandoned a call for the same need before.
    - complaint: a complaint's answer starts this far below a written request's (8.1).
    - failed_step: a failed onboarding activation or store visit (journey step).
    """

    wait: float = 3.0
    unresolved: float = 2.7
    repeat: float = 0.75
    abandonment: float = 0.5
    complaint: float = 1.5
    failed_step: float = 2.5

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0 <= value <= 10:
                raise ValueError(f"effect {name} must be in [0, 10] NPS points, got {value}")


# -- options, summary, sinks ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationOptions:
    days: int = 90
    customers: int = 20_000
    seed: int = 42
    scenarios: tuple[Scenario, ...] = ()
    malformed_rate: float = 0.0  # probability, per valid message, of an extra malformed message
    duplicate_rate: float = 0.0  # probability, per valid message, that it is sent twice (same bytes)
    end: datetime | None = None  # default: now (UTC) floored to the minute; no event at or after it
    effects: LeverEffects = LeverEffects()  # effect sizes of the service levers on the answers

    def __post_init__(self) -> None:
        if self.days < 1 or self.customers < 1:
            raise ValueError(f"days and customers must be >= 1, got days={self.days}, customers={self.customers}")
        for name in ("malformed_rate", "duplicate_rate"):
            rate = getattr(self, name)
            if not 0 <= rate < 1:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")


@dataclass
class _NpsDrop:
    """An nps-drop scenario while it runs: where, from when, how many points, and the answers of its
    scope counted before it starts (the NPS it drops from)."""

    dimension: str  # channel | segment | touchpoint
    value: str
    since: int  # epoch seconds
    points: float
    ramp_s: int = 0  # seconds over which the drop grows to its points (0: at once)
    answers_before: int = 0
    promoters_before: int = 0
    detractors_before: int = 0
