"""A small, deterministic sample of touchpoint and survey messages for the tests and the ingest benchmark.

It includes a share of malformed messages (one of each class the consumer must reject) and of
redelivered duplicates, so that a test sees the dead-letter path and the reconciliation at work.
The realistic, scenario-driven simulator is `streams.simulator` (`cxpulse simulate`); this is only
a smoke sample, kept with the tests because nothing in the product uses it.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CHANNELS = ("phone", "chat", "email", "web", "app")
QUEUES = {
    "phone": ("billing_hotline", "tech_support"),
    "chat": ("web_chat",),
    "email": ("contact_form",),
    "web": ("checkout",),
    "app": ("account",),
}
REASONS = ("billing", "delivery", "technical", "contract", "other")
CATEGORIES = ("delivery_delay", "billing_error", "product_defect", "staff_attitude")

# One message per class the consumer must reject (see streams.contracts).
MALFORMED: tuple[bytes, ...] = (
    b"",  # empty message
    b"\xff\xfe not utf-8",  # not UTF-8
    b'{"event_id": "x", ',  # not JSON (truncated)
    b'["not", "an", "object"]',  # JSON that is not an object
    b'{"event_id": "bad-1", "event_type": "teleport", "occurred_at": "2026-01-01T00:00:00Z", '
    b'"customer_id": "c", "channel": "phone", "touchpoint": "q"}',  # unknown enum value
)


@dataclass
class Sample:
    touchpoints: list[bytes] = field(default_factory=list)
    surveys: list[bytes] = field(default_factory=list)
    valid_touchpoints: int = 0
    valid_surveys: int = 0
    duplicates: int = 0
    malformed: int = 0


def _ts(moment: datetime) -> str:
    # never in the future: replies and resolutions of recent cases are capped at now
    return min(moment, datetime.now(UTC)).isoformat(timespec="seconds")


def generate(
    customers: int = 200,
    seed: int = 7,
    start: datetime | None = None,
    days: int = 14,
    duplicate_rate: float = 0.02,
    with_malformed: bool = True,
) -> Sample:
    rng = random.Random(seed)
    # Recent by default, so that the freshness gate of a demo run passes.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = start or today - timedelta(days=days)
    out = Sample()
    counter = 0

    def emit(event: dict, *, survey: bool = False) -> None:
        raw = json.dumps(event, ensure_ascii=False).encode()
        target = out.surveys if survey else out.touchpoints
        target.append(raw)
        if survey:
            out.valid_surveys += 1
        else:
            out.valid_touchpoints += 1
        if rng.random() < duplicate_rate:  # a producer retry: same message again
            target.append(raw)
            out.duplicates += 1

    for c in range(customers):
        customer = f"cust-{seed}-{c:05d}"
        segment = rng.choice(("residential", "pro", "premium"))
        for _ in range(rng.randint(1, 4)):
            counter += 1
            channel = rng.choice(CHANNELS)
            queue = rng.choice(QUEUES[channel])
            when = start + timedelta(seconds=rng.randrange(days * 86400))
            reason = rng.choice(REASONS)
            base = {
                "occurred_at": _ts(when),
                "customer_id": customer,
                "channel": channel,
                "touchpoint": queue,
                "segment": segment,
                "journey": rng.choice(("billing", "support")),
            }
            if channel in ("phone", "chat"):
                answered = rng.random() < 0.88
                wait = round(rng.expovariate(1 / 25), 1)
                event = {
                    "event_id": f"ev-{seed}-{counter}",
                    "event_type": "contact",
                    **base,
                    "contact_id": f"ct-{seed}-{counter}",
                    "outcome": "answered" if answered else "abandoned",
                    "wait_s": wait,
                    "reason": reason,
                }
                if answered:
                    event |= {
                        "talk_s": rng.randint(60, 600),
                        "hold_s": rng.randint(0, 60),
                        "acw_s": rng.randint(10, 90),
                        "agent_id": f"agent-{rng.randint(1, 20)}",
                    }
                emit(event)
            elif channel == "email":
                case = f"case-{seed}-{counter}"
                complaint = rng.random() < 0.3
                opened = {
                    "event_id": f"ev-{seed}-{counter}-o",
                    "event_type": "case_opened",
                    **base,
                    "case_id": case,
                    "reason": reason,
                    "is_complaint": complaint,
                }
                if complaint:
                    opened["category"] = rng.choice(CATEGORIES)
                emit(opened)
                replied_at = when + timedelta(hours=rng.uniform(1, 60))
                emit(
                    {
                        "event_id": f"ev-{seed}-{counter}-r",
                        "event_type": "case_replied",
                        **base,
                        "occurred_at": _ts(replied_at),
                        "case_id": case,
                        "handle_s": rng.randint(120, 900),
                    }
                )
                if rng.random() < 0.8:
                    emit(
                        {
                            "event_id": f"ev-{seed}-{counter}-s",
                            "event_type": "case_resolved",
                            **base,
                            "occurred_at": _ts(replied_at + timedelta(hours=rng.uniform(1, 120))),
                            "case_id": case,
                            "handle_s": rng.randint(60, 600),
                            "compensation_eur": rng.choice((0, 0, 10, 25)) if complaint else 0,
                        }
                    )
            else:
                emit(
                    {
                        "event_id": f"ev-{seed}-{counter}",
                        "event_type": "journey_step",
                        **base,
                        "step_status": rng.choices(("ok", "failed", "abandoned"), (90, 5, 5))[0],
                        "duration_s": rng.randint(5, 300),
                    }
                )
            if rng.random() < 0.4:
                nps = min(10, max(0, round(rng.gauss(7.5, 2))))
                emit(
                    {
                        "response_id": f"resp-{seed}-{counter}",
                        **base,
                        "occurred_at": _ts(when + timedelta(hours=2)),
                        "survey": "post_contact",
                        "nps": nps,
                        "csat": min(5, max(1, round(nps / 2))),
                        "ces": rng.randint(1, 7),
                        "emotion": rng.choice(("joy", "anger", "surprise", None)),
                        "verbatim": "Conseiller très aimable, délai un peu long.",
                        "language": "fr",
                    },
                    survey=True,
                )
    if with_malformed:
        out.touchpoints.extend(MALFORMED)
        out.surveys.extend(MALFORMED)
        out.surveys.append(
            b'{"response_id": "r-oor", "occurred_at": "2026-03-03T10:00:00+01:00", '
            b'"customer_id": "c", "channel": "web", "touchpoint": "checkout", '
            b'"survey": "post_journey", "nps": 11}'
        )  # out-of-range score
        out.malformed = 2 * len(MALFORMED) + 1
    return out
