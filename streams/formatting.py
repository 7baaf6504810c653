"""How every text people read writes numbers, dates, scopes and table headers, in English and French.

One place for the words and the typography of cx.alerts texts (incident notices, digests, hot alerts), the
webhook, `cxpulse alerts|incidents [--fr]`, the evidence and the dashboard. Names of things (KPI labels, French
touchpoint and segment names) live in the KPI catalogue (transforms/kpis.yaml): callers above transforms/ pass
them in as `names`; without them such a scope keeps its raw value. The channels, a fixed list of the event
contract, are named here (CHANNEL_FR).

Why in streams/: the hot path (streams.hot_rules) writes cx.alerts texts too, and streams/ is the bottom
layer every stage may import.

French typography, as a French CX lead writes it: decimal comma and a narrow no-break space (U+202F)
between thousands (2 328 ; 10,2), a space before "%", ":" and ";", dates as 07/12/2026. English keeps
2,328 and 10.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from streams.contracts import Channel

NNBSP = "\u202f"  # narrow no-break space: French thousands separator

# scope kind -> (English, French) with the value in {}; `short` French forms for inside a sentence
_SCOPE_KINDS = {
    "channel": ("the {} channel", "le canal {}"),
    "touchpoint": ("touchpoint {}", "le point de contact {}"),
    "segment": ("the {} segment", "le segment {}"),
}
_SCOPE_LABELS = {"channel": "canal {}", "touchpoint": "point de contact {}", "segment": "segment {}"}  # no article
ALL = ("all customers", "l'ensemble des clients")
ALL_LABEL = ("all", "ensemble")

SEVERITY_FR = {"info": "info", "warning": "avertissement", "critical": "critique"}
STATUS_FR = {"open": "ouvert", "resolved": "résolu"}
# a KPI against its target (marts.progress_dashboard.status)
TARGET_STATUS_FR = {"green": "vert", "amber": "orange", "red": "rouge", "no_data": "pas de données"}

# Table headers of the command line and the dashboard: key -> (English, French).
HEADERS = {
    "id": ("id", "id"),
    "status": ("status", "statut"),
    "severity": ("severity", "gravité"),
    "rule": ("rule", "règle"),
    "scope": ("scope", "périmètre"),
    "root": ("root", "cause"),
    "explained": ("explained", "part expliquée"),
    "findings": ("findings", "constats"),
    "first_fired": ("first fired", "première alerte"),
    "opened": ("opened", "ouvert le"),
    "message": ("message", "message"),
    "headline": ("what happened", "ce qui s'est passé"),
    "follow_up": ("follow-up", "suivi"),
    "kpi": ("KPI", "indicateur"),
    "value": ("value", "valeur"),
    "target": ("target", "objectif"),
    "trend": ("trend", "tendance"),
}

# scope kind -> value -> French name: the catalogue's `scope_names` (English uses the values as they are)
Names = Mapping[str, Mapping[str, str]]

# French names of the channels of the event contract (streams.contracts.Channel, a fixed list); touchpoints
# and segments are the organisation's and named in the KPI catalogue.
CHANNEL_FR = {
    Channel.phone: "téléphone",
    Channel.chat: "chat",
    Channel.email: "e-mail",
    Channel.web: "site web",
    Channel.app: "application",
    Channel.store: "boutique",
    Channel.social: "réseaux sociaux",
    Channel.mail: "courrier",
}


def header(key: str, french: bool = False) -> str:
    en, fr = HEADERS[key]
    return fr if french else en


def number(value: float, decimals: int = 1, french: bool = False) -> str:
    """2,328.5 and -3.9 in English; 2 328,5 and −3,9 in French (narrow no-break space, decimal comma, minus)."""
    text = f"{value:,.{decimals}f}"
    if french:  # and the true minus sign, as in the signed changes ("−10,2 points")
        text = text.replace(",", NNBSP).replace(".", ",").replace("-", "−")
    return text


def count(value: int | None, french: bool = False) -> str:
    return "?" if value is None else number(value, 0, french)


def percent(share: float | None, decimals: int = 0, french: bool = False) -> str:
    """A share in [0, 1] as a percentage: "85 %"."""
    if share is None:
        return "?"
    return f"{number(share * 100, decimals, french)} %"


def value(v: float | None, unit: str, french: bool = False) -> str:
    """A KPI value in its catalogue unit: ratio as %, points, seconds, hours."""
    if v is None:
        return "–"
    if unit == "ratio":
        return percent(v, 1, french)
    suffix = {"points": " points", "seconds": " s", "hours": " h"}.get(unit, "")
    return f"{number(v, 1, french)}{suffix}"


def change(delta: float, unit: str, french: bool = False) -> str:
    """By how much, signed: "−15.2 points", "−4.1 pts" for ratios (percentage points)."""
    sign = "+" if delta > 0 else "−"
    if unit == "ratio":
        return f"{sign}{number(abs(delta) * 100, 1, french)} pts"
    return f"{sign}{value(abs(delta), unit, french)}"


def day(d: date | datetime | str | None, french: bool = False) -> str:
    """2026-12-07 in English, 07/12/2026 in French (an ISO string is accepted)."""
    if d is None:
        return "–"
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{d:%d/%m/%Y}" if french else f"{d:%Y-%m-%d}"


def moment(t: datetime | None, french: bool = False) -> str:
    """A timestamp to the minute: 2026-12-07 09:30 / 07/12/2026 à 09:30 (in the zone it carries)."""
    if t is None:
        return "–"
    return f"{t:%d/%m/%Y à %H:%M}" if french else f"{t:%Y-%m-%d %H:%M}"


def _name(kind: str, raw: str, french: bool, names: Names | None) -> str:
    if not french:
        return raw
    if kind == "channel":
        return CHANNEL_FR.get(raw, raw)
    return (names or {}).get(kind, {}).get(raw, raw)


def scope_name(scope: str, french: bool = False, names: Names | None = None) -> str:
    """A scope inside a sentence: "the chat channel" / "le canal chat", "l'ensemble des clients"."""
    if scope == "all":
        return ALL[french]
    kind, _, raw = scope.partition(":")
    en, fr = _SCOPE_KINDS.get(kind, ("{}", "{}"))
    return (fr if french else en).format(_name(kind, raw, french, names))


def scope_label(scope: str, french: bool = False, names: Names | None = None) -> str:
    """A scope as a table cell: in French "ensemble", "canal chat"; in English the scope as stored
    ("all", "channel:chat"), as the tables always showed it."""
    if not french:
        return scope
    if scope == "all":
        return ALL_LABEL[1]
    kind, _, raw = scope.partition(":")
    return _SCOPE_LABELS.get(kind, "{}").format(_name(kind, raw, True, names))


def severity(v: str, french: bool = False) -> str:
    return SEVERITY_FR.get(v, v) if french else v


def status(v: str, french: bool = False) -> str:
    return STATUS_FR.get(v, v) if french else v


def follow_up(
    ack: tuple[str, datetime, str | None] | None,
    snooze: tuple[str, date, str | None] | None,
    french: bool = False,
) -> str:
    """Who took an incident and until when it is snoozed, as `cxpulse incidents` and the dashboard show it:
    ack = (who, when, note), snooze = (who, until, note)."""
    parts = []
    if ack is not None:
        who, when, note = ack
        text = f"pris en charge par {who} le {day(when, True)}" if french else f"acknowledged by {who} on {day(when)}"
        parts.append(text + (f"{' :' if french else ':'} {note}" if note else ""))
    if snooze is not None:
        who, until, note = snooze
        text = f"en pause jusqu'au {day(until, True)} ({who})" if french else f"snoozed until {day(until)} ({who})"
        parts.append(text + (f"{' :' if french else ':'} {note}" if note else ""))
    return (" ; " if french else "; ").join(parts)
