"""Deterministic scenario simulator: customers living journeys, as touchpoint events and survey answers.

`cxpulse simulate` and `cxpulse demo` call `simulate()`; every valid message it produces is built from
the classes of `streams.contracts` and encoded with msgspec, so it decodes with `decode_touchpoint` /
`decode_survey` by construction (and the tests check it).

The model
---------
- **Customers.** A base of `customers` slots, each with a segment (residential 72 %, pro 18 %, premium
  10 %), a language (mostly French), a loyalty (a personal offset of every score), an affinity for
  digital channels (chat rather than phone) and whether they use the app. A segment sets how often
  its customers need help, how long they accept to wait and hold on, what they expect (`expected`)
  and how demanding they are; premium calls are routed first. Customers who leave (termination
  journey) are replaced by a new customer who starts an onboarding journey, so the base stays the
  same size and the process stays stationary.
- **Arrivals.** Independent Poisson streams per hour: contact needs, written requests, complaints,
  purchases, self-care sessions, troubleshooting, store visits, terminations, relationship surveys.
  Each stream has a weekday x hour-of-day profile in Paris time (phone lines Mon-Sat 8-20 h, chat
  8-22 h every day, stores Mon-Sat 9-19 h, web and app around the clock with an evening peak).
  Rates are per customer, so volume scales with `customers`; nothing trends, nothing grows.
- **Live contacts.** A need (reason) goes to a phone queue of its reason or to a chat queue. Queues
  are staffed for the average hour, so occupancy rises with the hour's load and waits grow sharply
  at peaks (Monday morning, Sunday chat). A caller whose patience runs out abandons and often tries
  again. An answered contact has talk/hold/after-contact-work times of its queue and agent (a roster
  sized to the volume), and is resolved with a probability of its queue and agent; an unresolved need
  comes back within hours (a repeat contact: FCR), is escalated to a written request, or is given up.
- **Cases.** Written requests and complaints are opened on a mailbox, form or social account, get a
  first reply and a resolution in office hours, and are sometimes reopened. Complaint categories
  follow a Pareto shape (billing errors and late deliveries are most of them); each complaint has a
  story before it (the bill, the missed parcel, the failed self-repair, one or two unresolved calls)
  and a severity; compensation comes from a grid of euros by category and severity.
- **Journeys.** Purchase funnels (product page -> cart -> checkout -> payment, with abandonment),
  deliveries (sometimes late or missed, which brings contacts), self-care in the app or on the web,
  troubleshooting, store visits, onboarding and termination, as `journey_step` events.
- **Surveys.** Post-contact (linked by `contact_id` or `case_id`), post-journey and relationship
  surveys. One latent satisfaction per answer (segment, loyalty, wait beyond the segment's
  tolerance, resolution, repeat contacts, failures, compensation) gives NPS, CSAT and the expectation
  gap; a latent effort gives CES; emotions and French (or English) verbatims are picked from the
  score and what happened. Service KPIs and experience scores therefore move together. A survey-
  fatigue rule (at most one answer per customer per 14 days) keeps answers independent, as the
  statistical tests of the drift detector assume.
- **Scenarios** change the process from a moment on: `nps-drop` turns a share of the answers in a
  scope into bad experiences, sized from the scope's NPS before the drop so that its NPS falls by
  about `points`; `wait-spike` multiplies the waits of a queue (abandonment and scores follow);
  `complaint-burst` multiplies the rate of a complaint category.
- **Noise.** Malformed messages (one of the classes the consumer rejects) and redeliveries of the
  same bytes are drawn from a random stream of their own, so the valid events do not depend on the
  malformed and duplicate rates.

Determinism: one `random.Random(seed)` drives the world and another the noise; ids are counters
under a tag hashed from the options, so the same options (with the same `end`) give byte-identical
messages in the same order, and a run with other options never reuses an id for a different event.
Messages come out day by day in time order; events that would happen after `end` (replies to recent
cases, late surveys) are not produced yet. The 21 days before the start are played but not sent, so
the first day already carries the replies, resolutions and answers of stories begun earlier (no
warm-up: the drift windows need `days` >= 35 only).

Volume: about 50 messages per 1,000 customers per day (90 days x 125,000 customers is about 557,000
messages, with about 1,400 chat survey answers a week); generation runs at about 100,000 messages a
second in one process on a small 2-core machine.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Literal
from zoneinfo import ZoneInfo

import msgspec

from streams.contracts import (
    CaseOpened,
    CaseReopened,
    CaseReplied,
    CaseResolved,
    Channel,
    Contact,
    JourneyStep,
    SurveyResponse,
)

Kind = Literal["touchpoints", "surveys"]
Sink = Callable[[str, bytes, bytes | None], None]

DAY = 86_400
HOUR = 3_600
# Days played before the start and not sent: longer than most stories (complaints, terminations).
LEAD_IN_DAYS = 21
# At most one survey answer per customer in this many seconds (a common survey-fatigue rule).
SURVEY_QUARANTINE = 14 * 86_400
_PARIS = ZoneInfo("Europe/Paris")


# -- the simulated world ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Segment:
    name: str
    share: float
    activity: float  # relative rate of contact needs, requests and complaints
    digital: float  # mean probability of choosing chat over phone
    tolerance_s: float  # wait accepted before satisfaction suffers
    patience_s: float  # mean time before hanging up on the phone (chat: x 2.2)
    expected: float  # mean anticipated experience, 1-5
    bias: float  # offset of every satisfaction score
    english: float  # share answering in English
    priority: float  # wait multiplier from routing (premium first)


SEGMENTS: tuple[_Segment, ...] = (
    _Segment("residential", 0.72, 1.0, 0.50, 60, 150, 3.5, 0.15, 0.07, 1.0),
    _Segment("pro", 0.18, 1.5, 0.55, 30, 95, 3.9, -0.25, 0.18, 0.8),
    _Segment("premium", 0.10, 1.2, 0.45, 20, 120, 4.3, -0.10, 0.15, 0.45),
)
SEGMENT_NAMES: tuple[str, ...] = tuple(s.name for s in SEGMENTS)


@dataclass(frozen=True)
class _Queue:
    name: str
    channel: str
    occupancy: float  # agents' occupancy in an average open hour
    wait_scale_s: float  # mean wait of a queued contact is wait_scale_s / (1 - occupancy)
    talk_s: float  # median talk time
    hold_share: float
    hold_s: float  # mean hold when on hold
    acw_s: float  # median after-contact work
    resolution: float  # probability that an answered contact solves the need
    agents: int  # agents on the roster per 100,000 customers (at least 2)


QUEUES: dict[str, _Queue] = {
    q.name: q
    for q in (
        _Queue("billing_hotline", "phone", 0.76, 24, 290, 0.35, 45, 32, 0.84, 4),
        _Queue("tech_support", "phone", 0.78, 26, 400, 0.50, 60, 40, 0.74, 6),
        _Queue("sales_line", "phone", 0.72, 20, 330, 0.30, 40, 35, 0.86, 4),
        _Queue("orders_line", "phone", 0.74, 22, 230, 0.30, 40, 28, 0.81, 3),
        _Queue("retention_line", "phone", 0.68, 16, 380, 0.40, 50, 45, 0.86, 2),
        _Queue("web_chat", "chat", 0.78, 30, 360, 0.20, 35, 25, 0.79, 4),
        _Queue("app_chat", "chat", 0.78, 30, 340, 0.20, 35, 25, 0.80, 4),
    )
}
QUEUE_NAMES: tuple[str, ...] = tuple(QUEUES)

# reason -> (journey, phone queue); the chat queues take every reason
REASONS: dict[str, tuple[str, str]] = {
    "billing": ("billing", "billing_hotline"),
    "technical": ("support", "tech_support"),
    "delivery": ("delivery", "orders_line"),
    "contract": ("support", "sales_line"),
    "purchase": ("purchase", "sales_line"),
    "product": ("support", "tech_support"),
    "other": ("support", "sales_line"),
    "activation": ("onboarding", "tech_support"),
    "termination": ("termination", "retention_line"),
    "privacy": ("support", "sales_line"),
    "store": ("purchase", "sales_line"),
}
# why people call or chat, outside the journeys that bring their own contacts
NEED_REASONS = ("billing", "technical", "delivery", "contract", "purchase", "product", "other")
NEED_WEIGHTS = (0.27, 0.28, 0.13, 0.12, 0.08, 0.07, 0.05)
REQUEST_REASONS = ("contract", "billing", "delivery", "technical", "other")
REQUEST_WEIGHTS = (0.35, 0.30, 0.10, 0.10, 0.15)


@dataclass(frozen=True)
class _Category:
    name: str
    share: float  # of all complaints: the Pareto shape
    reason: str | None  # None: the reason of the contact complained about
    grid: tuple[float, float, float]  # compensation in euros by severity (minor, major, critical)
    story: str | None  # what happens before the complaint
    contacts: tuple[float, float, float]  # probabilities of 0, 1, 2 unresolved contacts before writing


CATEGORIES: dict[str, _Category] = {
    c.name: c
    for c in (
        _Category("billing_error", 0.27, "billing", (5, 20, 60), "bill", (0.25, 0.55, 0.20)),
        _Category("delivery_delay", 0.21, "delivery", (5, 15, 40), "delivery", (0.30, 0.55, 0.15)),
        _Category("technical_outage", 0.15, "technical", (10, 25, 60), "troubleshooting", (0.20, 0.50, 0.30)),
        _Category("unresolved_issue", 0.10, "technical", (10, 30, 75), None, (0.0, 0.30, 0.70)),
        _Category("contract_terms", 0.07, "contract", (0, 15, 50), None, (0.50, 0.50, 0.0)),
        _Category("staff_attitude", 0.06, None, (0, 10, 30), None, (0.0, 1.0, 0.0)),
        _Category("product_defect", 0.05, "product", (15, 50, 120), "purchase", (0.40, 0.60, 0.0)),
        _Category("termination_fees", 0.04, "termination", (0, 30, 90), "termination", (1.0, 0.0, 0.0)),
        _Category("data_privacy", 0.03, "privacy", (0, 50, 150), None, (1.0, 0.0, 0.0)),
        _Category("store_experience", 0.02, "store", (0, 10, 25), "store", (1.0, 0.0, 0.0)),
    )
}
CATEGORY_NAMES: tuple[str, ...] = tuple(CATEGORIES)
SEVERITY_WEIGHTS = (0.6, 0.3, 0.1)
# a complaint is compensated when judged justified, more often the more severe it is
COMPENSATED = (0.35, 0.70, 0.95)

# case mailboxes and forms: (channel, touchpoint, weight)
REQUEST_INBOXES = (("email", "customer_mailbox", 0.55), ("web", "web_form", 0.30), ("mail", "postal_mail", 0.08))
REQUEST_INBOXES += (("social", "social_care", 0.07),)
COMPLAINT_INBOXES = (("email", "complaints_mailbox", 0.50), ("web", "complaint_form", 0.22))
COMPLAINT_INBOXES += (("mail", "postal_mail", 0.15), ("social", "social_care", 0.13))
PRIVACY_INBOXES = (("email", "complaints_mailbox", 0.7), ("mail", "postal_mail", 0.3))
STORES = ("store_paris_opera", "store_lyon_part_dieu", "store_marseille_prado", "store_lille_centre")
STORES += ("store_bordeaux_lac",)
STORE_WEIGHTS = (0.32, 0.2, 0.18, 0.15, 0.15)
SELFCARE = (("bill_view", "billing", 0.45), ("payment_method", "billing", 0.12), ("plan_change", "support", 0.13))
SELFCARE += (("address_change", "support", 0.10), ("consumption_view", "support", 0.20))

# Every touchpoint a survey answer can carry: the scopes an nps-drop may target.
SURVEY_TOUCHPOINTS: tuple[str, ...] = tuple(
    sorted(
        {
            *QUEUES,
            *(t for _, t, _ in REQUEST_INBOXES + COMPLAINT_INBOXES),
            *STORES,
            *(name for name, _, _ in SELFCARE),
            "payment",
            "home_delivery",
            "store_pickup",
            "self_repair",
            "activation",
            "contract_end",
            "relationship_survey",
        }
    )
)
CHANNEL_NAMES: tuple[str, ...] = tuple(c.value for c in Channel)

# Weekday (Mon..Sun) and local hour (0..23) profiles of each arrival stream.
_CONTACT_HOURS = (0,) * 8 + (0.7, 1.35, 1.5, 1.4, 1.05, 1.0, 1.3, 1.3, 1.2, 1.05, 0.85, 0.6, 0.4, 0.25, 0, 0)
_CONTACT_DAYS = (1.3, 1.1, 1.05, 1.0, 0.95, 0.55, 0.3)
_DIGITAL_HOURS = (0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.2, 1.05, 1.0)
_DIGITAL_HOURS += (1.0, 1.1, 1.3, 1.55, 1.7, 1.6, 1.1, 0.6)
_DIGITAL_DAYS = (1.0, 0.95, 0.95, 0.95, 1.0, 1.05, 1.1)
_WRITTEN_HOURS = (0.15, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.7, 1.2, 1.4, 1.4, 1.3, 1.0, 1.1, 1.3, 1.3, 1.2, 1.1)
_WRITTEN_HOURS += (1.0, 0.9, 0.9, 0.8, 0.6, 0.3)
_WRITTEN_DAYS = (1.25, 1.1, 1.05, 1.0, 0.95, 0.7, 0.55)
_STORE_HOURS = (0,) * 9 + (0.6, 1.0, 1.2, 1.3, 1.1, 1.1, 1.2, 1.3, 1.4, 1.2) + (0,) * 5
_STORE_DAYS = (0.8, 0.9, 0.9, 0.9, 1.1, 1.7, 0.0)
# while the phone lines are open, this share of the contact demand goes to chat anyway
_CHAT_SHARE_OPEN = 0.45

# Per customer per day, before the segment's activity: the scale of every stream.
_RATES = {
    "need": 0.0066,
    "request": 0.0007,
    "complaint": 0.00040,
    "purchase": 0.0040,
    "selfcare": 0.0048,
    "troubleshooting": 0.0018,
    "store": 0.0009,
    "termination": 0.00025,
    "relationship": 0.0019,
}

# -- verbatims: picked by language, band (from the NPS) and topic (what happened) -----------------------
_VERBATIMS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "fr": {
        "pos": {
            "any": (
                "Service client au top, je recommande.",
                "Réponse rapide et claire, merci !",
                "Très satisfait, rien à redire.",
            ),
            "agent": (
                "Conseiller très aimable et efficace, problème réglé en quelques minutes.",
                "Conseillère à l'écoute, elle a pris le temps de tout m'expliquer.",
            ),
            "billing": ("Facture enfin claire, merci pour les explications.",),
            "digital": ("Application simple et intuitive, tout s'est fait en deux clics.",),
            "delivery": ("Livraison en avance, colis en parfait état.",),
            "store": ("Accueil chaleureux en boutique, vendeur de bon conseil.",),
            "complaint": ("Ma réclamation a été prise au sérieux et le geste commercial est apprécié.",),
            "onboarding": ("Inscription rapide, ligne activée dès le lendemain.",),
            "relationship": ("Client depuis des années et toujours content du service.",),
        },
        "mid": {
            "any": ("Dans l'ensemble ça va, rien d'exceptionnel.", "Correct, sans plus."),
            "wait": ("Correct, mais l'attente était un peu longue.",),
            "repeat": ("Problème résolu, mais il a fallu rappeler une deuxième fois.",),
            "billing": ("Conseiller sympathique, réponse un peu vague sur ma facture.",),
            "digital": (
                "Le site fonctionne, mais le paiement a mis du temps à passer.",
                "Réponse obtenue, mais il faut chercher longtemps dans l'appli.",
            ),
            "delivery": ("Livraison dans les temps, mais aucun suivi par SMS.",),
            "complaint": ("Délai de traitement de ma demande un peu long.",),
            "relationship": ("Les prix ont augmenté, le service reste correct.",),
        },
        "neg": {
            "any": ("Je vais partir à la concurrence.", "Très déçu, ce n'est plus comme avant."),
            "wait": (
                "Vingt minutes d'attente pour finalement être coupé.",
                "Temps d'attente inacceptable, j'ai raccroché deux fois.",
            ),
            "unresolved": (
                "Toujours pas de solution après plusieurs appels.",
                "On me renvoie d'un service à l'autre, personne ne sait répondre.",
            ),
            "repeat": ("Troisième appel pour le même problème, c'est épuisant.",),
            "agent": ("Conseiller peu aimable, aucune empathie.",),
            "billing": (
                "Erreur sur ma facture et toujours pas remboursé.",
                "Prélèvement en double, c'est inadmissible.",
            ),
            "delivery": (
                "Colis en retard d'une semaine et aucune information.",
                "Livreur jamais passé alors que j'étais chez moi.",
            ),
            "digital": (
                "L'application plante au moment du paiement.",
                "Impossible de me connecter à mon espace client.",
            ),
            "complaint": (
                "Réclamation traitée en un mois, beaucoup trop long.",
                "Il a fallu relancer trois fois pour obtenir une réponse à ma réclamation.",
            ),
            "termination": ("Frais de résiliation abusifs, je ne recommanderai pas.",),
            "onboarding": ("Activation de ma ligne ratée, une semaine sans service.",),
            "store": ("Boutique bondée, personne pour me renseigner.",),
            "incident": (
                "Très déçu cette fois-ci, rien n'a fonctionné comme d'habitude.",
                "On m'a promis un rappel qui n'est jamais venu.",
            ),
            "incident-chat": (
                "Le chat me renvoie en boucle vers l'assistant virtuel.",
                "Conversation coupée au moment du transfert vers un conseiller.",
                "Le chatbot ne comprend pas ma demande et je n'ai jamais eu d'humain.",
            ),
        },
    },
    "en": {
        "pos": {
            "any": ("Great service, quick and friendly.", "Very happy, nothing to add."),
            "agent": ("The agent was kind and fixed my problem in minutes.",),
            "delivery": ("Parcel arrived early and in perfect condition.",),
        },
        "mid": {
            "any": ("OK overall, nothing special.",),
            "wait": ("Fine, but the wait was a bit long.",),
            "repeat": ("Solved in the end, but I had to call twice.",),
        },
        "neg": {
            "any": ("Very disappointed, I am thinking of leaving.",),
            "wait": ("Waited twenty minutes and then got cut off.",),
            "unresolved": ("Still no solution after several calls.",),
            "billing": ("Wrong bill and still no refund.",),
            "delivery": ("Parcel a week late and no information.",),
            "complaint": ("It took a month to handle my complaint.",),
            "incident": ("Nothing worked this time, very disappointed.",),
            "incident-chat": ("The chat keeps sending me back to the bot.",),
        },
    },
}
_NEGATIVE_EMOTIONS = {
    "wait": (("anger", "sadness", "disgust", "fear"), (0.55, 0.25, 0.1, 0.1)),
    "unresolved": (("anger", "sadness", "disgust", "fear"), (0.5, 0.3, 0.1, 0.1)),
    "complaint": (("anger", "disgust", "sadness"), (0.4, 0.35, 0.25)),
    "agent": (("anger", "disgust", "sadness"), (0.4, 0.35, 0.25)),
    "billing": (("fear", "anger", "sadness"), (0.3, 0.4, 0.3)),
    "termination": (("fear", "anger", "sadness"), (0.3, 0.4, 0.3)),
    "any": (("anger", "sadness", "disgust", "fear"), (0.4, 0.35, 0.15, 0.1)),
}
# presence of each question by survey type: nps, csat, ces (when an effort is known), expected
_QUESTIONS = {
    "post_contact": (0.9, 0.95, 0.85, 0.45),
    "post_journey": (0.75, 0.9, 0.8, 0.35),
    "relationship": (1.0, 0.55, 0.0, 0.0),
}

# -- malformed messages: the classes the consumer must reject -------------------------------------------
MALFORMED_CLASSES: tuple[str, ...] = (
    "empty",
    "not_utf8",
    "truncated_json",
    "not_object",
    "unknown_enum",
    "missing_field",
    "out_of_range",
)


# -- scenarios ------------------------------------------------------------------------------------------
_SCENARIO_SCOPES: dict[str, tuple[str, ...]] = {
    "nps-drop": ("channel", "segment", "touchpoint"),
    "wait-spike": ("queue",),
    "complaint-burst": ("category",),
}
_SCENARIO_MAGNITUDE: dict[str, tuple[str, float]] = {
    "nps-drop": ("points", 15.0),
    "wait-spike": ("factor", 3.0),
    "complaint-burst": ("factor", 4.0),
}
_SCOPE_VALUES: dict[str, tuple[str, ...]] = {
    "channel": CHANNEL_NAMES,
    "segment": SEGMENT_NAMES,
    "touchpoint": SURVEY_TOUCHPOINTS,
    "queue": QUEUE_NAMES,
    "category": CATEGORY_NAMES,
}
_RELATIVE = re.compile(r"^-(\d+(?:\.\d+)?)([dh])$")


@dataclass(frozen=True)
class Scenario:
    """A change of the simulated process from a moment on (see `parse_scenario` for the syntax)."""

    kind: str  # nps-drop | wait-spike | complaint-burst
    dimension: str  # channel | segment | touchpoint (nps-drop), queue (wait-spike), category (complaint-burst)
    value: str
    magnitude: float  # NPS points (nps-drop) or a factor (the others)
    since: str = "-7d"  # -Nd / -Nh before the end of the simulation, or a UTC date YYYY-MM-DD

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
            return f"nps-drop: NPS on {self.dimension} {self.value} {self.magnitude:g} points lower {when}"
        if self.kind == "wait-spike":
            return f"wait-spike: waits on queue {self.value} x{self.magnitude:g} {when}"
        return f"complaint-burst: {self.value} complaints x{self.magnitude:g} {when}"

    def __str__(self) -> str:
        key = _SCENARIO_MAGNITUDE[self.kind][0]
        return f"{self.kind}:{self.dimension}={self.value}:from={self.since}:{key}={self.magnitude:g}"


def _allowed(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def parse_scenario(text: str) -> Scenario:
    """Parse `kind:key=value:key=value`, e.g. `nps-drop:channel=chat:from=-7d:points=15`.

    Kinds and keys: nps-drop (one of channel | segment | touchpoint, from, points), wait-spike (queue,
    from, factor), complaint-burst (category, from, factor). `from` is `-Nd` or `-Nh` before the end
    of the simulation or a UTC date `YYYY-MM-DD` (default -7d); points default to 15, factors to 3 (wait)
    and 4 (complaints). Raises ValueError naming the bad part and what is allowed.
    """
    parts = text.strip().split(":")
    kind = parts[0]
    if kind not in _SCENARIO_SCOPES:
        raise ValueError(
            f"scenario {text!r}: unknown kind {kind!r}; allowed kinds: {_allowed(tuple(_SCENARIO_SCOPES))}"
        )
    scopes = _SCENARIO_SCOPES[kind]
    magnitude_key, magnitude = _SCENARIO_MAGNITUDE[kind]
    allowed_keys = (*scopes, "from", magnitude_key)
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
    if len(given_scopes) != 1:
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
    return Scenario(kind, dimension, value, magnitude, since)


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

    def __post_init__(self) -> None:
        if self.days < 1 or self.customers < 1:
            raise ValueError(f"days and customers must be >= 1, got days={self.days}, customers={self.customers}")
        for name in ("malformed_rate", "duplicate_rate"):
            rate = getattr(self, name)
            if not 0 <= rate < 1:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")


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


class JsonlSink:
    """Writes `touchpoints.jsonl` and `surveys.jsonl` into `folder`, one message a line, bytes untouched.

    An empty message cannot be a line (and `cxpulse produce` skips blank lines): it is counted in
    `skipped` instead of written, so `written + skipped` equals what the simulator sent.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.paths = {"touchpoints": self.folder / "touchpoints.jsonl", "surveys": self.folder / "surveys.jsonl"}
        self.written = {"touchpoints": 0, "surveys": 0}
        self.skipped = {"touchpoints": 0, "surveys": 0}
        self._files: dict[str, IO[bytes]] = {}

    def __enter__(self) -> JsonlSink:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._files = {kind: path.open("wb", buffering=1 << 20) for kind, path in self.paths.items()}
        return self

    def __call__(self, kind: str, value: bytes, key: bytes | None) -> None:
        if not value or b"\n" in value:
            self.skipped[kind] += 1
            return
        self._files[kind].write(value + b"\n")
        self.written[kind] += 1

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files = {}

    def __exit__(self, *exc: object) -> None:
        self.close()


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


class _World:
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
        signature = repr(
            (options.seed, options.days, options.customers, self.end_ts, [str(s) for s in options.scenarios])
        )
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
        self._hours: dict[int, tuple] = {}
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
        self._drops: list[list] = []  # [dimension, value, from_ts, points, n, promoters, detractors]
        self._spikes: dict[str, list[tuple[int, float]]] = {}
        self._bursts: dict[str, list[tuple[int, float]]] = {}
        for s in scenarios:
            since = int(s.starts_at(self.end).timestamp())
            if s.kind == "nps-drop":
                self._drops.append([s.dimension, s.value, since, s.magnitude, 0, 0, 0])
            elif s.kind == "wait-spike":
                self._spikes.setdefault(s.value, []).append((since, s.magnitude))
            else:
                self._bursts.setdefault(s.value, []).append((since, s.magnitude))

    # -- time ----------------------------------------------------------------------------------------------
    def _hour(self, t: int) -> tuple:
        """(weekday, local hour, phone open, chat open, office open, phone load, chat load) of instant t."""
        key = t // HOUR
        info = self._hours.get(key)
        if info is None:
            local = datetime.fromtimestamp(key * HOUR + 1800, _PARIS)
            w, h = local.weekday(), local.hour
            info = (
                w,
                h,
                self._phone_open(w, h),
                self._chat_open(w, h),
                w < 6 and 8 <= h < 19,
                self._load["phone"][w][h],
                self._load["chat"][w][h],
            )
            self._hours[key] = info
        return info

    def _when_open(self, t: int, index: int) -> int:
        """t if the service (2 phone, 3 chat, 4 office) is open, else a moment in its next opening hour."""
        if self._hour(t)[index]:
            return t
        probe = (t // HOUR + 1) * HOUR
        for _ in range(72):
            if self._hour(probe)[index]:
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
        event = JourneyStep(
            event_id=f"{self._ev}{self._next_id()}",
            occurred_at=self._dt(t),
            customer_id=self.cid[slot],
            channel=channel,
            touchpoint=touchpoint,
            journey=journey,
            segment=SEGMENT_NAMES[self.seg[slot]],
            step_status=status,
            duration_s=float(round(duration)),
        )
        self._put(t, "touchpoints", event, self.ckey[slot])

    # -- live contacts -------------------------------------------------------------------------------------
    def _need(
        self, t: int, slot: int, reason: str, *, chat: bool | None = None, stop_after: int = 0
    ) -> tuple[int, bool]:
        """Live contacts for one need until it is solved, escalated or given up; returns (end, solved).

        stop_after > 0: the customer stops after that many answered, unresolved contacts (and writes a
        complaint, in a complaint story).
        """
        rng = self.rng
        journey, phone_queue = REASONS[reason]
        segment = SEGMENTS[self.seg[slot]]
        use_chat = (rng.random() < self.digital[slot]) if chat is None else chat
        answered = 0
        abandoned_before = False
        for _ in range(6):
            index = 3 if use_chat else 2
            if not self._hour(t)[index]:
                if use_chat or not self._hour(t)[3]:
                    t = self._when_open(t, index)
                else:
                    use_chat = True  # phone lines closed, the chat is open
            if t >= self.end_ts:
                return t, False
            if use_chat:
                queue = QUEUES["app_chat" if self.app[slot] else "web_chat"]
            else:
                queue = QUEUES[phone_queue]
            wait = self._wait(t, queue, segment)
            patience = 8 + rng.expovariate(1.0) * segment.patience_s * (2.2 if use_chat else 1.0)
            contact_id = f"{self._ct}{self._next_id()}"
            if wait > patience:
                self._contact(t, slot, queue, journey, reason, contact_id, round(patience, 1))
                abandoned_before = True
                if rng.random() < 0.3:
                    self._bad(slot, t)
                    return t, False
                t += int(patience + rng.lognormvariate(6.8, 0.8))  # tries again after ~15 min
                if rng.random() < 0.2:
                    use_chat = not use_chat
                continue
            answered += 1
            roster = self.agents[queue.name]
            agent_id, skill, speed = roster[rng.randrange(len(roster))]
            talk = queue.talk_s * speed * rng.lognormvariate(0, 0.5)
            hold = rng.expovariate(1 / queue.hold_s) if rng.random() < queue.hold_share else 0.0
            acw = queue.acw_s * rng.lognormvariate(0, 0.35)
            if stop_after:
                solved = False
            else:
                chance = queue.resolution + skill + 0.06 * (answered - 1) + (0.04 if segment.priority < 1 else 0)
                solved = rng.random() < chance
            self._contact(
                t,
                slot,
                queue,
                journey,
                reason,
                contact_id,
                round(wait, 1),
                round(talk),
                round(hold),
                round(acw),
                agent_id,
            )
            done = t + int(wait + talk + hold)
            if rng.random() < (0.38 if use_chat else 0.24):
                self._contact_survey(
                    done, slot, queue, journey, reason, contact_id, wait, solved, answered, abandoned_before
                )
            if solved:
                return done, True
            if stop_after and answered >= stop_after:
                return done, False
            if answered >= 3:
                self._bad(slot, done)
                return done, False
            fate = rng.random()
            if fate < 0.72:  # calls or chats again, usually within hours
                t = done + int(min(3 * DAY, rng.lognormvariate(8.2, 0.7)))
            elif fate < 0.86:  # writes instead
                opened = done + int(min(3 * DAY, rng.lognormvariate(9.2, 0.7)))
                channel, touchpoint = _pick(rng, REQUEST_INBOXES)
                self._case(opened, slot, reason, journey, channel, touchpoint)
                return opened, False
            else:
                self._bad(slot, done)
                return done, False
        return t, False

    def _wait(self, t: int, queue: _Queue, segment: _Segment) -> float:
        """Seconds in queue: the hour's load raises occupancy, and waits explode as it nears 1."""
        rng = self.rng
        info = self._hour(t)
        load = info[5] if queue.channel == "phone" else info[6]
        rho = min(0.97, queue.occupancy * load**0.25)
        # A spike (missing staff) multiplies the mean wait by its factor: more callers queue, and longer.
        spike = 1.0
        for since, factor in self._spikes.get(queue.name, ()):
            if t >= since:
                spike *= math.sqrt(factor)
        if rng.random() < rho**5 * spike:
            wait = rng.expovariate(1.0) * queue.wait_scale_s / (1 - rho) * spike
        else:
            wait = rng.random() * 4  # routed straight to a free agent
        return wait * segment.priority

    def _contact(
        self,
        t: int,
        slot: int,
        queue: _Queue,
        journey: str,
        reason: str,
        contact_id: str,
        wait: float,
        talk: float | None = None,
        hold: float | None = None,
        acw: float | None = None,
        agent_id: str | None = None,
    ) -> None:
        if not self.start_ts <= t < self.end_ts:
            return
        event = Contact(
            event_id=f"{self._ev}{self._next_id()}",
            occurred_at=self._dt(t),
            customer_id=self.cid[slot],
            channel=queue.channel,
            touchpoint=queue.name,
            journey=journey,
            segment=SEGMENT_NAMES[self.seg[slot]],
            contact_id=contact_id,
            outcome="abandoned" if talk is None else "answered",
            wait_s=wait,
            reason=reason,
            talk_s=talk,
            hold_s=hold,
            acw_s=acw,
            agent_id=agent_id,
        )
        self._put(t, "touchpoints", event, self.ckey[slot])

    def _contact_survey(
        self,
        t: int,
        slot: int,
        queue: _Queue,
        journey: str,
        reason: str,
        contact_id: str,
        wait: float,
        solved: bool,
        answered: int,
        abandoned_before: bool,
    ) -> None:
        rng = self.rng
        segment = SEGMENTS[self.seg[slot]]
        over = max(0.0, wait - segment.tolerance_s)
        wait_penalty = min(3.0, over / 45)
        s = 8.8 + segment.bias + self.loyal[slot] - wait_penalty - 0.75 * (answered - 1) + rng.gauss(0, 1.25)
        effort = 6.1 - 0.85 * (answered - 1) - min(2.0, wait / 100)
        if not solved:
            s -= 2.7
            effort -= 1.7
        if abandoned_before:
            s -= 0.5
            effort -= 0.6
        if wait_penalty > 1:
            topic = "wait"
        elif not solved:
            topic = "unresolved"
        elif answered > 1:
            topic = "repeat"
        else:
            topic = {"billing": "billing", "delivery": "delivery"}.get(reason, "agent")
        delay = rng.randrange(30, 900) if queue.channel == "chat" else 300 + int(rng.expovariate(1 / 3600))
        self._answer(t + delay, slot, "post_contact", queue.channel, queue.name, journey, s, effort, topic, contact_id)

    def _bad(self, slot: int, t: int) -> None:
        self.bad_from[slot] = t
        self.bad_until[slot] = t + 7 * DAY

    # -- cases -----------------------------------------------------------------------------------------------
    def _case(
        self,
        t: int,
        slot: int,
        reason: str,
        journey: str,
        channel: str,
        touchpoint: str,
        category: str | None = None,
        severity: int = 0,
    ) -> None:
        """A written request or complaint: opened, replied and resolved in office hours, maybe reopened.

        A case opened during the lead-in is played out but not sent (no case events without their
        case_opened); its survey answer, when it comes after the start, is.
        """
        if t >= self.end_ts:
            return
        rng = self.rng
        complaint = category is not None
        shown = t >= self.start_ts
        case_id = f"{self._cs}{self._next_id()}"
        key = self.ckey[slot]
        common = {
            "customer_id": self.cid[slot],
            "channel": channel,
            "touchpoint": touchpoint,
            "journey": journey,
            "segment": SEGMENT_NAMES[self.seg[slot]],
            "case_id": case_id,
        }

        def emit(at: int, event_type: type[msgspec.Struct], **fields: object) -> None:
            if shown:
                event = event_type(
                    event_id=f"{self._ev}{self._next_id()}", occurred_at=self._dt(at), **common, **fields
                )
                self._put(at, "touchpoints", event, key)

        emit(t, CaseOpened, reason=reason, is_complaint=complaint, category=category)
        if complaint:
            self._bad(slot, t)
            reply_median = (22 * HOUR, 16 * HOUR, 8 * HOUR)[severity]
            reply_at = self._when_open(t + int(rng.lognormvariate(math.log(reply_median), 1.0)), 4)
            reply_handle = 900 * (1, 1.6, 2.5)[severity] * rng.lognormvariate(0, 0.5)
        else:
            reply_at = self._when_open(t + int(rng.lognormvariate(math.log(14 * HOUR), 0.9)), 4)
            reply_handle = 360 * rng.lognormvariate(0, 0.5)
        if reply_at >= self.end_ts:
            return
        emit(reply_at, CaseReplied, handle_s=float(round(reply_handle)))
        if complaint:
            median = (40 * HOUR, 90 * HOUR, 200 * HOUR)[severity]
            resolved_at = self._when_open(reply_at + int(rng.lognormvariate(math.log(median), 0.9)), 4)
            resolve_handle = 1200 * (1, 1.6, 2.5)[severity] * rng.lognormvariate(0, 0.5)
            grid = CATEGORIES[category].grid
            compensation = float(grid[severity]) if rng.random() < COMPENSATED[severity] else 0.0
        else:
            if rng.random() < 0.55:  # the reply solves it
                resolved_at = reply_at + rng.randrange(300, 3600)
            else:
                resolved_at = self._when_open(reply_at + int(rng.lognormvariate(math.log(30 * HOUR), 1.0)), 4)
            resolve_handle = 240 * rng.lognormvariate(0, 0.5)
            compensation = 0.0
        if resolved_at >= self.end_ts:
            return
        emit(resolved_at, CaseResolved, handle_s=float(round(resolve_handle)), compensation_eur=compensation)
        reopened = False
        reopen_chance = 0.05
        if complaint:
            # an uncompensated serious complaint comes back more often
            reopen_chance = 0.09 + (0.08 if compensation == 0 and severity >= 1 else 0)
        if rng.random() < reopen_chance:
            reopened = True
            reopen_at = resolved_at + int(rng.lognormvariate(math.log(2 * DAY), 0.7))
            if reopen_at >= self.end_ts:
                return
            emit(reopen_at, CaseReopened)
            resolved_at = self._when_open(reopen_at + int(rng.lognormvariate(math.log(3 * DAY), 0.8)), 4)
            top_up = float(CATEGORIES[category].grid[0] or 10) if complaint and rng.random() < 0.4 else 0.0
            compensation += top_up
            if resolved_at >= self.end_ts:
                return
            emit(
                resolved_at,
                CaseResolved,
                handle_s=float(round(600 * rng.lognormvariate(0, 0.5))),
                compensation_eur=top_up,
            )
        if rng.random() < (0.25 if complaint else 0.16):
            days_open = (resolved_at - t) / DAY
            seg = SEGMENTS[self.seg[slot]]
            s = (6.6 if complaint else 8.1) + seg.bias + self.loyal[slot] - min(2.5, 0.25 * days_open)
            effort = (5.0 if complaint else 5.6) - min(1.5, days_open / 6)
            if reopened:
                s -= 1.8
                effort -= 1.2
            if compensation > 0:
                s += 1.3
            s += rng.gauss(0, 1.4)
            topic = "complaint" if complaint else "any"
            answer_at = resolved_at + int(rng.lognormvariate(math.log(5 * HOUR), 1.0))
            self._answer(
                answer_at, slot, "post_contact", channel, touchpoint, journey, s, effort, topic, case_id=case_id
            )

    def _complaint(self, t: int, slot: int, category: str) -> None:
        """A complaint and the story before it, which the customer lived first."""
        rng = self.rng
        cat = CATEGORIES[category]
        severity = _weighted(rng, SEVERITY_WEIGHTS)
        reason = cat.reason or rng.choice(("billing", "technical", "contract"))
        journey = REASONS[reason][0]
        digital = "app" if self.app[slot] and rng.random() < 0.7 else "web"
        if cat.story == "termination":
            self._termination(t, slot, fees_complaint=True)
            return
        if cat.story == "bill":
            self._step(t, slot, digital, "bill_view", "billing", "ok", rng.lognormvariate(4.0, 0.6))
            t += rng.randrange(600, 4 * HOUR)
        elif cat.story == "delivery":
            self._step(t, slot, "mail", "home_delivery", "delivery", "failed", 0)
            t += rng.randrange(HOUR, 6 * HOUR)
            self._step(t, slot, digital, "order_tracking", "delivery", "ok", rng.lognormvariate(3.5, 0.5))
            t += rng.randrange(600, 3 * HOUR)
        elif cat.story == "troubleshooting":
            self._step(t, slot, digital, "diagnostic", "support", "ok", rng.lognormvariate(4.5, 0.5))
            t += rng.randrange(120, 900)
            self._step(t, slot, digital, "self_repair", "support", "failed", rng.lognormvariate(5.5, 0.5))
            t += rng.randrange(600, 3 * HOUR)
        elif cat.story == "purchase":
            self._step(t, slot, digital, "payment", "purchase", "ok", rng.lognormvariate(3.8, 0.4))
            t += rng.randrange(3 * DAY, 10 * DAY)
        elif cat.story == "store":
            store = STORES[_weighted(rng, STORE_WEIGHTS)]
            self._step(t, slot, "store", store, "purchase", "failed", rng.lognormvariate(6.8, 0.5))
            t += rng.randrange(2 * HOUR, DAY)
        contacts = _weighted(rng, cat.contacts)
        if contacts:
            t, _ = self._need(t, slot, reason, stop_after=contacts)
            t += int(rng.lognormvariate(math.log(5 * HOUR), 1.0))
        channel, touchpoint = _pick(rng, PRIVACY_INBOXES if category == "data_privacy" else COMPLAINT_INBOXES)
        self._case(t, slot, reason, journey, channel, touchpoint, category, severity)

    # -- journeys ------------------------------------------------------------------------------------------
    def _purchase(self, t: int, slot: int) -> None:
        rng = self.rng
        if rng.random() < 0.12:
            self._store_visit(t, slot, "purchase")
            return
        channel = "app" if self.app[slot] and rng.random() < 0.7 else "web"
        for step, carry_on, median in (("product_page", 0.72, 60), ("cart", 0.80, 40), ("checkout", 0.93, 90)):
            if rng.random() > carry_on:
                self._step(t, slot, channel, step, "purchase", "abandoned", median * rng.lognormvariate(0, 0.6))
                if rng.random() < 0.04:
                    self._need(t + rng.randrange(60, 1800), slot, "purchase", chat=rng.random() < 0.7)
                return
            duration = median * rng.lognormvariate(0, 0.6)
            self._step(t, slot, channel, step, "purchase", "ok", duration)
            t += int(duration) + rng.randrange(10, 240)
        if rng.random() < 0.035:
            self._step(t, slot, channel, "payment", "purchase", "failed", 30 * rng.lognormvariate(0, 0.4))
            if rng.random() < 0.45:
                self._need(t + rng.randrange(120, 1800), slot, "purchase", chat=rng.random() < 0.7)
            return
        self._step(t, slot, channel, "payment", "purchase", "ok", 45 * rng.lognormvariate(0, 0.4))
        if rng.random() < 0.04:
            self._answer(
                t + rng.randrange(30, 600),
                slot,
                "post_journey",
                channel,
                "payment",
                "purchase",
                8.6 + self._mood(slot) + rng.gauss(0, 1.2),
                5.6,
                "digital",
            )
        self._delivery(t, slot, channel)

    def _delivery(self, t: int, slot: int, channel: str) -> None:
        rng = self.rng
        transit = int(rng.lognormvariate(math.log(1.8 * DAY), 0.45))
        delayed = transit > 4 * DAY
        if rng.random() < 0.55:
            self._step(t + int(transit * rng.uniform(0.3, 0.9)), slot, channel, "order_tracking", "delivery", "ok", 40)
        if delayed and rng.random() < 0.35:
            self._need(t + 4 * DAY + rng.randrange(DAY // 2), slot, "delivery")
        arrival = self._when_open(t + transit, 4)
        pickup = rng.random() < 0.25
        missed = not pickup and rng.random() < 0.05
        if pickup:
            self._step(arrival, slot, "store", "store_pickup", "delivery", "ok", rng.lognormvariate(5.5, 0.5))
        else:
            self._step(arrival, slot, "mail", "home_delivery", "delivery", "failed" if missed else "ok", 0)
            if missed:
                if rng.random() < 0.3:
                    self._need(arrival + rng.randrange(HOUR, 6 * HOUR), slot, "delivery")
                arrival = self._when_open(arrival + DAY, 4)
                self._step(arrival, slot, "mail", "home_delivery", "delivery", "ok", 0)
        if rng.random() < 0.11:
            s = 8.7 + self._mood(slot) + rng.gauss(0, 1.2) - (2.5 if delayed else 0) - (1.5 if missed else 0)
            effort = 5.5 - (1.5 if delayed else 0) - (1.5 if missed else 0)
            touchpoint = "store_pickup" if pickup else "home_delivery"
            answer_at = arrival + int(rng.lognormvariate(math.log(4 * HOUR), 0.8))
            self._answer(answer_at, slot, "post_journey", channel, touchpoint, "delivery", s, effort, "delivery")

    def _store_visit(self, t: int, slot: int, journey: str) -> None:
        rng = self.rng
        store = STORES[_weighted(rng, STORE_WEIGHTS)]
        draw = rng.random()
        status = "ok" if draw < 0.93 else ("failed" if draw < 0.98 else "abandoned")
        self._step(t, slot, "store", store, journey, status, 900 * rng.lognormvariate(0, 0.5))
        if rng.random() < 0.14:
            s = 8.5 + self._mood(slot) + rng.gauss(0, 1.2) - {"ok": 0, "failed": 2.5, "abandoned": 1.5}[status]
            effort = 5.4 - (0 if status == "ok" else 1.5)
            self._answer(
                t + rng.randrange(HOUR, 6 * HOUR), slot, "post_journey", "store", store, journey, s, effort, "store"
            )

    def _selfcare(self, t: int, slot: int) -> None:
        rng = self.rng
        channel = "app" if self.app[slot] and rng.random() < 0.75 else "web"
        touchpoint, journey, _ = SELFCARE[_weighted(rng, [w for _, _, w in SELFCARE])]
        if rng.random() < 0.03:
            self._step(t, slot, channel, "login", journey, "failed", rng.lognormvariate(3.0, 0.5))
            t += rng.randrange(60, 600)
            if rng.random() < 0.2:
                self._need(t, slot, "technical")
                return
        self._step(t, slot, channel, "login", journey, "ok", rng.lognormvariate(2.5, 0.5))
        t += rng.randrange(5, 60)
        draw = rng.random()
        status = "ok" if draw < 0.955 else ("failed" if draw < 0.98 else "abandoned")
        self._step(t, slot, channel, touchpoint, journey, status, rng.lognormvariate(4.2, 0.7))
        if status == "failed" and rng.random() < 0.4:
            self._need(t + rng.randrange(300, 3 * HOUR), slot, "billing" if journey == "billing" else "contract")
        elif rng.random() < 0.04:
            s = 8.4 + self._mood(slot) + rng.gauss(0, 1.2) - (2.5 if status != "ok" else 0)
            answer_at = t + rng.randrange(60, 1800)
            self._answer(answer_at, slot, "post_journey", channel, touchpoint, journey, s, 5.5, "digital")

    def _troubleshooting(self, t: int, slot: int) -> None:
        rng = self.rng
        channel = "app" if self.app[slot] and rng.random() < 0.8 else "web"
        self._step(t, slot, channel, "diagnostic", "support", "ok", rng.lognormvariate(4.5, 0.5))
        t += rng.randrange(120, 900)
        fixed = rng.random() < 0.62
        self._step(
            t, slot, channel, "self_repair", "support", "ok" if fixed else "failed", rng.lognormvariate(5.5, 0.5)
        )
        if not fixed and rng.random() < 0.65:
            self._need(t + rng.randrange(300, 3 * HOUR), slot, "technical")
        elif fixed and rng.random() < 0.08:
            s = 8.7 + self._mood(slot) + rng.gauss(0, 1.2)
            answer_at = t + rng.randrange(60, 1800)
            self._answer(answer_at, slot, "post_journey", channel, "self_repair", "support", s, 5.3, "digital")

    def _onboarding(self, t: int, slot: int) -> None:
        rng = self.rng
        draw = rng.random()
        channel = "web" if draw < 0.5 else ("app" if draw < 0.7 else "store")
        signup = STORES[_weighted(rng, STORE_WEIGHTS)] if channel == "store" else "signup"
        self._step(t, slot, channel, signup, "onboarding", "ok", rng.lognormvariate(5.7, 0.5))
        t += rng.randrange(60, 600)
        if channel != "store":
            if rng.random() < 0.06:
                self._step(t, slot, channel, "identity_check", "onboarding", "failed", rng.lognormvariate(4.5, 0.5))
                t += rng.randrange(HOUR, 6 * HOUR)
            self._step(t, slot, channel, "identity_check", "onboarding", "ok", rng.lognormvariate(4.5, 0.5))
            t += rng.randrange(60, 600)
        self._step(t, slot, channel, "contract_signature", "onboarding", "ok", rng.lognormvariate(4.0, 0.5))
        t = self._when_open(t + int(rng.lognormvariate(math.log(20 * HOUR), 0.5)), 4)
        failed = rng.random() < 0.07
        self._step(t, slot, "web", "activation", "onboarding", "failed" if failed else "ok", 0)
        if failed:
            self._need(t + rng.randrange(HOUR, 4 * HOUR), slot, "activation")
            t = self._when_open(t + DAY, 4)
            self._step(t, slot, "web", "activation", "onboarding", "ok", 0)
        if rng.random() < 0.7:
            first_login = t + int(rng.lognormvariate(math.log(12 * HOUR), 0.8))
            self._step(first_login, slot, "app", "login", "onboarding", "ok", rng.lognormvariate(2.5, 0.5))
        if rng.random() < 0.22:
            s = 8.4 + self._mood(slot) + rng.gauss(0, 1.3) - (2.5 if failed else 0)
            answer_at = t + int(rng.lognormvariate(math.log(6 * HOUR), 0.8))
            effort = 5.3 - (1.8 if failed else 0)
            self._answer(answer_at, slot, "post_journey", channel, "activation", "onboarding", s, effort, "onboarding")

    def _termination(self, t: int, slot: int, fees_complaint: bool = False) -> None:
        """A customer leaves (or is retained); a leaver's slot goes to a new customer who onboards."""
        rng = self.rng
        if rng.random() < 0.4:
            t, _ = self._need(t, slot, "termination", chat=False)
            if not fees_complaint and rng.random() < 0.3:
                return  # the retention line kept them
        else:
            channel = "app" if self.app[slot] and rng.random() < 0.3 else "web"
            self._step(t, slot, channel, "cancellation_request", "termination", "ok", rng.lognormvariate(4.8, 0.5))
            if not fees_complaint and rng.random() < 0.12:
                return  # accepted the retention offer
        end_at = self._when_open(t + rng.randrange(DAY, 10 * DAY), 4)
        self._step(end_at, slot, "web", "contract_end", "termination", "ok", 0)
        if rng.random() < 0.25:
            s = 5.8 + self._mood(slot) + rng.gauss(0, 1.6)
            answer_at = end_at + int(rng.lognormvariate(math.log(8 * HOUR), 0.8))
            effort = 4.8 + rng.gauss(0, 0.5)
            self._answer(
                answer_at, slot, "post_journey", "web", "contract_end", "termination", s, effort, "termination"
            )
        if fees_complaint:
            opened = end_at + rng.randrange(5 * DAY, 20 * DAY)
            channel, touchpoint = _pick(rng, COMPLAINT_INBOXES)
            severity = _weighted(rng, SEVERITY_WEIGHTS)
            self._case(opened, slot, "termination", "termination", channel, touchpoint, "termination_fees", severity)
        # Events already scheduled keep the leaver's id; from now on the slot is a newcomer's.
        self._new_customer(slot)
        self._onboarding(t + rng.randrange(DAY), slot)

    def _relationship(self, t: int, slot: int) -> None:
        rng = self.rng
        s = 8.3 + SEGMENTS[self.seg[slot]].bias + 1.2 * self.loyal[slot] + rng.gauss(0, 1.5)
        if self.bad_from[slot] <= t < self.bad_until[slot]:
            s -= 1.6
        self._answer(t, slot, "relationship", "email", "relationship_survey", None, s, None, "relationship")

    def _mood(self, slot: int) -> float:
        return SEGMENTS[self.seg[slot]].bias + self.loyal[slot]

    # -- survey answers --------------------------------------------------------------------------------------
    def _answer(
        self,
        t: int,
        slot: int,
        survey: str,
        channel: str,
        touchpoint: str,
        journey: str | None,
        s: float,
        effort: float | None,
        topic: str,
        contact_id: str | None = None,
        case_id: str | None = None,
    ) -> None:
        """One survey answer from a latent satisfaction `s` (about the NPS scale) and effort (CES scale)."""
        if t >= self.end_ts:
            return
        # Survey fatigue rule: a customer answers at most one survey per quarantine period. It also keeps
        # answers independent of each other (no cluster of a customer's repeat contacts), as the tests of
        # the drift detector assume. The lead-in answers are not sent but count for the rule.
        if abs(t - self.surveyed[slot]) < SURVEY_QUARANTINE:
            return
        self.surveyed[slot] = t
        if t < self.start_ts:
            return
        rng = self.rng
        seg = self.seg[slot]
        if self._drops:
            scope = {"channel": channel, "touchpoint": touchpoint, "segment": SEGMENT_NAMES[seg]}
            for drop in self._drops:
                if scope[drop[0]] != drop[1]:
                    continue
                if t < drop[2]:
                    nps_before = min(10, max(0, round(s)))
                    drop[4] += 1
                    drop[5] += nps_before >= 9
                    drop[6] += nps_before <= 6
                    continue
                # A bad experience is a sure detractor: replacing a share p of answers by them moves the
                # NPS from N to (1 - p) N - p, a drop of p (N + 1); p follows from the NPS measured before.
                base = (drop[5] - drop[6]) / drop[4] if drop[4] >= 30 else 0.25
                if rng.random() < min(1.0, drop[3] / 100 / (base + 1)):
                    s = 6.4 - abs(rng.gauss(0, 2.2))
                    effort = None if effort is None else effort - 2.0
                    topic = "incident-chat" if channel == "chat" else "incident"
        p_nps, p_csat, p_ces, p_expected = _QUESTIONS[survey]
        nps = min(10, max(0, round(s))) if rng.random() < p_nps else None
        if nps is not None and s < 5.5 and rng.random() < 0.3:
            nps = rng.choice((0, 0, 1, 2))  # an angry customer answers at the bottom of the scale
        csat = min(5, max(1, round((s + rng.gauss(0, 1.0) + 0.4) / 2))) if rng.random() < p_csat else None
        ces = None
        if effort is not None and rng.random() < p_ces:
            ces = min(7, max(1, round(effort + 0.2 * (s - 8) + rng.gauss(0, 1.0))))
        if nps is None and csat is None and ces is None:
            nps = min(10, max(0, round(s)))
        expected = None
        if rng.random() < p_expected:
            expected = min(5, max(1, round(rng.gauss(SEGMENTS[seg].expected, 0.75))))
        score = nps if nps is not None else round(s)
        band = "pos" if score >= 9 else ("mid" if score >= 7 else "neg")
        emotion = None
        if rng.random() < 0.55:
            if band == "pos":
                emotion = "joy" if rng.random() < 0.8 else "surprise"
            elif band == "mid":
                emotion = _choose(rng, ("joy", "surprise", "sadness", "fear"), (0.6, 0.3, 0.05, 0.05))
            else:
                names, weights = _NEGATIVE_EMOTIONS.get(topic, _NEGATIVE_EMOTIONS["any"])
                emotion = _choose(rng, names, weights)
        verbatim = None
        language = self.lang[slot]
        if rng.random() < (0.5 if score <= 4 or score == 10 else 0.25):
            texts = _VERBATIMS[language][band]
            # mostly about what happened, sometimes a general remark
            themed = texts.get(topic) or texts.get(topic.partition("-")[0])
            verbatim = rng.choice(themed if themed and rng.random() < 0.8 else texts["any"])
        answer = SurveyResponse(
            response_id=f"{self._sv}{self._next_id()}",
            occurred_at=self._dt(t),
            customer_id=self.cid[slot],
            channel=channel,
            touchpoint=touchpoint,
            survey=survey,
            journey=journey,
            segment=SEGMENT_NAMES[seg],
            contact_id=contact_id,
            case_id=case_id,
            nps=nps,
            csat=csat,
            ces=ces,
            expected=expected,
            emotion=emotion,
            verbatim=verbatim,
            language=language,
        )
        self._put(t, "surveys", answer, self.ckey[slot])

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
        w, h = self._hour(start)[:2]
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


# -- helpers ------------------------------------------------------------------------------------------------
def _cumulate(weights: list[float] | tuple[float, ...]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _weighted(rng: random.Random, weights: list[float] | tuple[float, ...]) -> int:
    """Index drawn with the given weights."""
    draw = rng.random() * sum(weights)
    for i, w in enumerate(weights):
        draw -= w
        if draw < 0:
            return i
    return len(weights) - 1


def _choose(rng: random.Random, names: tuple[str, ...], weights: tuple[float, ...]) -> str:
    return names[_weighted(rng, weights)]


def _pick(rng: random.Random, table: tuple[tuple[str, str, float], ...]) -> tuple[str, str]:
    channel, touchpoint, _ = table[_weighted(rng, [w for _, _, w in table])]
    return channel, touchpoint


_json_decode = msgspec.json.decode


def _malformed(noise: random.Random, kind: str, value: bytes, key: bytes | None) -> tuple[bytes, bytes | None]:
    """A broken copy of a valid message, of one of the classes the consumer must dead-letter."""
    what = noise.choice(MALFORMED_CLASSES)
    if what == "empty":
        return b"", None
    if what == "not_utf8":
        # a producer writing Latin-1: 'é' as one byte
        return b'{"note":"r' + "é".encode("latin-1") + b'clamation",' + value[1:], key
    if what == "truncated_json":
        return value[: noise.randrange(1, len(value) - 1)], key
    if what == "not_object":
        return b"[" + value + b"]", key
    doc = _json_decode(value)
    if what == "unknown_enum":
        doc["channel"] = noise.choice(("fax", "carrier_pigeon", "telex"))
    elif what == "missing_field":
        gone = noise.choice(("customer_id", "occurred_at"))
        del doc[gone]
        if gone == "customer_id":
            key = None
    elif kind == "surveys":
        field_name, bad = noise.choice((("nps", 11), ("csat", 0), ("ces", 8), ("nps", -1)))
        doc[field_name] = bad
    elif doc["event_type"] == "contact":
        doc["wait_s"] = -round(noise.uniform(1, 60), 1)
    elif doc["event_type"] == "journey_step":
        doc["duration_s"] = -round(noise.uniform(1, 60))
    else:
        doc["event_id"] = doc["event_id"] * 20  # longer than the 128 characters allowed
    return msgspec.json.encode(doc), key
