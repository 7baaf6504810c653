"""The simulated world as data: segments, queues, reasons, complaint categories, inboxes, hourly
profiles, arrival rates, verbatims and the malformed classes, plus the draws made from them."""

from __future__ import annotations

import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from streams.contracts import (
    Channel,
)

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
