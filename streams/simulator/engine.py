"""The engine: the clock, the customers and agents, arrivals hour by hour, and the output day by day."""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from streams.contracts import JourneyStep, SurveyResponse
from streams.simulator.answers import _Answers
from streams.simulator.scenarios import LeverEffects, Scenario, SimulationOptions, _NpsDrop
from streams.simulator.sinks import Sink, _malformed
from streams.simulator.stories import _Stories
from streams.simulator.world import (
    _CHAT_SHARE_OPEN,
    _CONTACT_DAYS,
    _CONTACT_HOURS,
    _DIGITAL_DAYS,
    _DIGITAL_HOURS,
    _PARIS,
    _RATES,
    _STORE_DAYS,
    _STORE_HOURS,
    _WRITTEN_DAYS,
    _WRITTEN_HOURS,
    CATEGORIES,
    DAY,
    HOUR,
    LEAD_IN_DAYS,
    NEED_REASONS,
    NEED_WEIGHTS,
    QUEUES,
    REASONS,
    REQUEST_INBOXES,
    REQUEST_REASONS,
    REQUEST_WEIGHTS,
    SEGMENT_NAMES,
    SEGMENTS,
    SURVEY_QUARANTINE,
    _choose,
    _cumulate,
    _pick,
)


@dataclass(frozen=True, slots=True)
class _Hour:
    """One local hour of the week as the simulation sees it."""

    weekday: int
    hour: int
    open: dict[str, bool]  # "phone", "chat", "office" (written cases are handled in office hours)
    load: dict[str, float]  # "phone", "chat": relative load, 1 on the volume-weighted average


@dataclass
class SimulationSummary:
    start: datetime
    end: datetime
    valid: dict[str, int] = field(default_factory=lambda: {"touchpoints": 0, "surveys": 0})
    malformed: dict[str, int] = field(default_factory=lambda: {"touchpoints": 0, "surveys": 0})
    duplicates: dict[str, int] = field(default_factory=lambda: {"touchpoints": 0, "surveys": 0})
    scenarios: list[str] = field(default_factory=list)

    @property
    def messages(self) -> dict[str, int]:
        """Messages sent per kind: valid + malformed + duplicates."""
        return {k: self.valid[k] + self.malformed[k] + self.duplicates[k] for k in self.valid}

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    def describe(self) -> str:
        text = (
            f"{self.valid['touchpoints']:,} touchpoints and {self.valid['surveys']:,} survey answers valid, "
            f"{sum(self.malformed.values()):,} malformed, {sum(self.duplicates.values()):,} duplicates "
            f"({self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC)"
        )
        return "; ".join([text, *self.scenarios])


def default_end() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def simulate(
    options: SimulationOptions,
    sink: Sink,
    progress: Callable[[int], None] | None = None,
) -> SimulationSummary:
    """Run the simulation and hand every message to `sink(kind, value, key)`, in time order.

    `kind` is "touchpoints" or "surveys", `value` the JSON bytes, `key` the customer id (None for a
    malformed message without one). `progress(1)` is called after each simulated day has been sent
    (so a progress bar has `options.days` steps).
    """
    return _World(options).run(sink, progress)


# -- the engine -----------------------------------------------------------------------------------------
def _profile(days: tuple[float, ...], hours: tuple[float, ...]) -> list[list[float]]:
    """Weekday x hour weights, scaled so that the mean hour of the week weighs 1."""
    weights = [[d * h for h in hours] for d in days]
    total = sum(map(sum, weights))
    return [[w * 168 / total for w in row] for row in weights]


class _World(_Stories, _Answers):
    def __init__(self, options: SimulationOptions) -> None:
        end = options.end or default_end()
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        self.options = options
        self.end = end.astimezone(UTC)
        self.end_ts = int(self.end.timestamp())
        self.start_ts = self.end_ts - options.days * DAY
        self.start = datetime.fromtimestamp(self.start_ts, UTC)
        self.rng = random.Random(options.seed)
        # Noise has a stream of its own: the valid events do not depend on the noise rates.
        self.noise = random.Random(f"cxpulse-noise-{options.seed}")
        identity: tuple = (
            options.seed,
            options.days,
            options.customers,
            self.end_ts,
            [str(s) for s in options.scenarios],
        )
        if options.effects != LeverEffects():  # other effect sizes, other answers: ids of their own
            identity += (repr(options.effects),)
        signature = repr(identity)
        tag = hashlib.blake2b(signature.encode(), digest_size=3).hexdigest()
        self._ev = f"ev-{tag}-"
        self._ct = f"ct-{tag}-"
        self._cs = f"cs-{tag}-"
        self._sv = f"sv-{tag}-"
        self.counter = 0
        self.seq = 0
        self.buckets: list[list[tuple]] = [[] for _ in range(options.days)]
        self.summary = SimulationSummary(self.start, self.end)
        self._encode = msgspec.json.Encoder().encode
        self._hours: dict[int, _Hour] = {}
        self._profiles = {
            "contact": _profile(_CONTACT_DAYS, _CONTACT_HOURS),
            "digital": _profile(_DIGITAL_DAYS, _DIGITAL_HOURS),
            "written": _profile(_WRITTEN_DAYS, _WRITTEN_HOURS),
            "store": _profile(_STORE_DAYS, _STORE_HOURS),
        }
        self._init_load()
        self._init_agents()
        self._init_customers(options.customers)
        self._init_scenarios(options.scenarios)

    # -- set-up ------------------------------------------------------------------------------------------
    def _init_load(self) -> None:
        """Relative load of phone and chat per local (weekday, hour): 1 is the volume-weighted average."""
        contact = self._profiles["contact"]
        phone = [[0.0] * 24 for _ in range(7)]
        chat = [[0.0] * 24 for _ in range(7)]
        for w in range(7):
            for h in range(24):
                demand = contact[w][h]
                if self._phone_open(w, h):
                    phone[w][h] = demand * (1 - _CHAT_SHARE_OPEN)
                    chat[w][h] = demand * _CHAT_SHARE_OPEN
                else:
                    chat[w][h] = demand
        self._load = {}
        for channel, volume in (("phone", phone), ("chat", chat)):
            flat = [v for row in volume for v in row]
            mean = sum(v * v for v in flat) / sum(flat)
            self._load[channel] = [[v / mean for v in row] for row in volume]

    @staticmethod
    def _phone_open(weekday: int, hour: int) -> bool:
        return weekday < 6 and 8 <= hour < 20

    @staticmethod
    def _chat_open(weekday: int, hour: int) -> bool:
        return 8 <= hour < 22

    def _init_agents(self) -> None:
        rng = self.rng
        self.agents: dict[str, list[tuple[str, float, float]]] = {}
        for q in QUEUES.values():
            prefix = "".join(part[0] for part in q.name.split("_")).upper()
            # each agent: id, skill (resolution offset), speed (talk-time multiplier)
            self.agents[q.name] = [
                (f"AG-{prefix}-{i:03d}", rng.gauss(0, 0.05), rng.lognormvariate(0, 0.12))
                for i in range(1, max(2, round(q.agents * self.options.customers / 100_000)) + 1)
            ]

    def _init_customers(self, n: int) -> None:
        rng = self.rng
        self.n_customers = n
        self.next_customer = 0
        self.cid: list[str] = [""] * n
        self.ckey: list[bytes] = [b""] * n
        self.seg: list[int] = [0] * n
        self.lang: list[str] = ["fr"] * n
        self.loyal: list[float] = [0.0] * n
        self.digital: list[float] = [0.0] * n
        self.app: list[bool] = [False] * n
        # a recent bad experience (complaint, given-up need) colours relationship answers for 7 days
        self.bad_from: list[int] = [0] * n
        self.bad_until: list[int] = [0] * n
        self.surveyed: list[int] = [-SURVEY_QUARANTINE] * n
        segment_cum = list(_cumulate([s.share for s in SEGMENTS]))
        self.pools: list[list[int]] = [[] for _ in SEGMENTS]
        for slot in range(n):
            s = bisect.bisect(segment_cum, rng.random() * segment_cum[-1])
            s = min(s, len(SEGMENTS) - 1)
            self.seg[slot] = s
            self.pools[s].append(slot)
            self._new_customer(slot)
        # pick weights of the help-seeking streams: share x activity, over non-empty pools
        present = [i for i, pool in enumerate(self.pools) if pool]
        self._active_segments = present
        self._active_cum = list(_cumulate([SEGMENTS[i].share * SEGMENTS[i].activity for i in present]))
        self._activity_mean = sum(SEGMENTS[i].share * SEGMENTS[i].activity for i in present) / sum(
            SEGMENTS[i].share for i in present
        )

    def _new_customer(self, slot: int) -> None:
        rng = self.rng
        self.next_customer += 1
        self.cid[slot] = f"C{self.next_customer:08d}"
        self.ckey[slot] = self.cid[slot].encode()
        seg = SEGMENTS[self.seg[slot]]
        self.lang[slot] = "en" if rng.random() < seg.english else "fr"
        self.loyal[slot] = rng.gauss(0, 0.8)
        self.digital[slot] = min(0.92, max(0.05, rng.gauss(seg.digital, 0.22)))
        self.app[slot] = rng.random() < 0.55
        self.bad_from[slot] = self.bad_until[slot] = 0
        self.surveyed[slot] = -SURVEY_QUARANTINE

    def _init_scenarios(self, scenarios: tuple[Scenario, ...]) -> None:
        self.summary.scenarios = [s.describe(self.end) for s in scenarios]
        self._drops: list[_NpsDrop] = []
        self._spikes: dict[str, list[tuple[int, float]]] = {}
        self._bursts: dict[str, list[tuple[int, float]]] = {}
        self._mixes: list[tuple[int, str, float]] = []  # since, channel the answers move toward, factor
        self._ruptures: dict[str, list[tuple[int, float]]] = {}  # '<journey>/<step>' -> (since, factor)
        for s in scenarios:
            since = int(s.starts_at(self.end).timestamp())
            if s.kind == "nps-drop":
                self._drops.append(_NpsDrop(s.dimension, s.value, since, s.magnitude, s.ramp_seconds))
            elif s.kind == "mix-shift":
                self._mixes.append((since, s.value, s.magnitude))
            elif s.kind == "wait-spike":
                self._spikes.setdefault(s.value, []).append((since, s.magnitude))
            elif s.kind == "journey-rupture":
                self._ruptures.setdefault(s.value, []).append((since, s.magnitude))
            else:
                self._bursts.setdefault(s.value, []).append((since, s.magnitude))

    # -- time ----------------------------------------------------------------------------------------------
    def _hour(self, t: int) -> _Hour:
        """The local hour (Paris) of instant t: weekday, hour, what is open, the load of the queues."""
        key = t // HOUR
        info = self._hours.get(key)
        if info is None:
            local = datetime.fromtimestamp(key * HOUR + 1800, _PARIS)
            w, h = local.weekday(), local.hour
            info = _Hour(
                weekday=w,
                hour=h,
                open={"phone": self._phone_open(w, h), "chat": self._chat_open(w, h), "office": w < 6 and 8 <= h < 19},
                load={"phone": self._load["phone"][w][h], "chat": self._load["chat"][w][h]},
            )
            self._hours[key] = info
        return info

    def _when_open(self, t: int, service: str) -> int:
        """t if the service ("phone", "chat", "office") is open, else a moment in its next opening hour."""
        if self._hour(t).open[service]:
            return t
        probe = (t // HOUR + 1) * HOUR
        for _ in range(72):
            if self._hour(probe).open[service]:
                return probe + self.rng.randrange(HOUR)
            probe += HOUR
        return t

    def _dt(self, t: int) -> datetime:
        return datetime.fromtimestamp(t, UTC)

    def _poisson(self, lam: float) -> int:
        rng = self.rng
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, round(rng.gauss(lam, math.sqrt(lam))))
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k

    # -- emission ------------------------------------------------------------------------------------------
    def _put(self, t: int, kind: str, event: msgspec.Struct, key: bytes) -> None:
        self.seq += 1
        self.buckets[(t - self.start_ts) // DAY].append((t, self.seq, kind, self._encode(event), key))

    def _next_id(self) -> int:
        self.counter += 1
        return self.counter

    def _step(
        self, t: int, slot: int, channel: str, touchpoint: str, journey: str, status: str, duration: float
    ) -> None:
        if not self.start_ts <= t < self.end_ts:
            return
        self._emit(
            t,
            slot,
            JourneyStep,
            channel=channel,
            touchpoint=touchpoint,
            journey=journey,
            step_status=status,
            duration_s=float(round(duration)),
        )

    def _emit(self, t: int, slot: int, message_type: type[msgspec.Struct], **fields: object) -> None:
        """One message about customer `slot` at instant t: the id, time, customer and segment that every
        message carries, then `fields`."""
        if message_type is SurveyResponse:
            kind, ids = "surveys", {"response_id": f"{self._sv}{self._next_id()}"}
        else:
            kind, ids = "touchpoints", {"event_id": f"{self._ev}{self._next_id()}"}
        message = message_type(
            **ids, occurred_at=self._dt(t), customer_id=self.cid[slot], segment=SEGMENT_NAMES[self.seg[slot]], **fields
        )
        self._put(t, kind, message, self.ckey[slot])

    # -- arrivals and output ---------------------------------------------------------------------------------
    def _pick_customer(self, active: bool) -> int:
        rng = self.rng
        if not active:
            return rng.randrange(self.n_customers)
        i = bisect.bisect(self._active_cum, rng.random() * self._active_cum[-1])
        pool = self.pools[self._active_segments[min(i, len(self._active_segments) - 1)]]
        return pool[rng.randrange(len(pool))]

    def _hour_of_arrivals(self, start: int) -> None:
        """Draw every stream's arrivals in the hour from `start` and play out what follows each one."""
        rng = self.rng
        hour = self._hour(start)
        w, h = hour.weekday, hour.hour
        n = self.n_customers
        contact, digital = self._profiles["contact"][w][h], self._profiles["digital"][w][h]
        written, store = self._profiles["written"][w][h], self._profiles["store"][w][h]
        per_hour = n / 24
        # help-seeking streams pick customers by activity; their rates are per average customer
        active = per_hour * self._activity_mean

        def arrivals(rate: float, weight: float) -> list[int]:
            count = self._poisson(rate * weight)
            return sorted(start + rng.randrange(HOUR) for _ in range(count))

        for t in arrivals(_RATES["need"] * active, contact):
            self._need(t, self._pick_customer(True), _choose(rng, NEED_REASONS, NEED_WEIGHTS))
        for t in arrivals(_RATES["request"] * active, written):
            slot = self._pick_customer(True)
            reason = _choose(rng, REQUEST_REASONS, REQUEST_WEIGHTS)
            channel, touchpoint = _pick(rng, REQUEST_INBOXES)
            self._case(t, slot, reason, REASONS[reason][0], channel, touchpoint)
        for name, category in CATEGORIES.items():
            rate = _RATES["complaint"] * active * category.share
            for since, factor in self._bursts.get(name, ()):
                if start >= since:
                    rate *= factor
            for t in arrivals(rate, written):
                self._complaint(t, self._pick_customer(True), name)
        for t in arrivals(_RATES["purchase"] * per_hour, digital):
            self._purchase(t, self._pick_customer(False))
        for t in arrivals(_RATES["selfcare"] * per_hour, digital):
            self._selfcare(t, self._pick_customer(False))
        for t in arrivals(_RATES["troubleshooting"] * per_hour, digital):
            self._troubleshooting(t, self._pick_customer(False))
        for t in arrivals(_RATES["store"] * per_hour, store):
            self._store_visit(t, self._pick_customer(False), "purchase" if rng.random() < 0.6 else "support")
        for t in arrivals(_RATES["termination"] * per_hour, written):
            self._termination(t, self._pick_customer(False))
        for t in arrivals(_RATES["relationship"] * per_hour, written):
            self._relationship(t, self._pick_customer(False))

    def run(self, sink: Sink, progress: Callable[[int], None] | None) -> SimulationSummary:
        # The lead-in plays the weeks before the start without sending them, so that the first day
        # already has the replies, resolutions, exit surveys and complaint answers of stories begun
        # earlier: the output is stationary from its first day instead of warming up for weeks.
        for day in range(-LEAD_IN_DAYS, 0):
            for hour in range(24):
                self._hour_of_arrivals(self.start_ts + day * DAY + hour * HOUR)
        for day in range(self.options.days):
            day_start = self.start_ts + day * DAY
            for hour in range(24):
                self._hour_of_arrivals(day_start + hour * HOUR)
            # Nothing generated later can land on this day any more: send it, in time order.
            bucket = self.buckets[day]
            self.buckets[day] = []
            bucket.sort()
            self._send(bucket, sink)
            if progress is not None:
                progress(1)
        return self.summary

    def _send(self, bucket: list[tuple], sink: Sink) -> None:
        noise = self.noise
        malformed_rate, duplicate_rate = self.options.malformed_rate, self.options.duplicate_rate
        valid, duplicates, malformed = self.summary.valid, self.summary.duplicates, self.summary.malformed
        for _, _, kind, value, key in bucket:
            sink(kind, value, key)
            valid[kind] += 1
            if duplicate_rate and noise.random() < duplicate_rate:
                sink(kind, value, key)  # a producer retry after a lost acknowledgement: the same bytes
                duplicates[kind] += 1
            if malformed_rate and noise.random() < malformed_rate:
                bad, bad_key = _malformed(noise, kind, value, key)
                sink(kind, bad, bad_key)
                malformed[kind] += 1
