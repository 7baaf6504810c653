"""What an incident or a digest says, in English and French: scope names, KPI labels and numbers in one place.

French numbers use a comma for decimals and a narrow no-break space between thousands (2 328 ; 10,2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quality.drift import SURVEY_KPIS
from streams.alert_contract import Alert, DigestItem, Incident
from transforms.catalogue import load_catalogue

if TYPE_CHECKING:
    from quality.incidents import Group

_SCOPE_KINDS = {
    "channel": ("the {} channel", "le canal {}"),
    "touchpoint": ("touchpoint {}", "le point de contact {}"),
    "segment": ("the {} segment", "le segment {}"),
}
_EVENTS = {
    "opened": ("Incident", "Incident"),
    "severity_changed": ("Incident now {severity}", "Incident désormais {severity_fr}"),
    "resolved": ("Resolved", "Résolu"),
}
_SEVERITY_FR = {"info": "info", "warning": "avertissement", "critical": "critique"}
MAX_DIGEST_LINES = 15


def scope_name(scope: str, french: bool = False) -> str:
    if scope == "all":
        return "l'ensemble des clients" if french else "all customers"
    kind, _, value = scope.partition(":")
    en, fr = _SCOPE_KINDS.get(kind, ("{}", "{}"))
    return (fr if french else en).format(value)


def number(value: float, decimals: int = 1, french: bool = False) -> str:
    text = f"{value:,.{decimals}f}"
    if french:
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def count(value: int | None, french: bool = False) -> str:
    return "?" if value is None else number(value, 0, french)


def value(v: float | None, unit: str, french: bool = False) -> str:
    if v is None:
        return "–"
    if unit == "ratio":
        return f"{number(v * 100, 1, french)} %"
    suffix = {"points": " points", "seconds": " s", "hours": " h"}.get(unit, "")
    return f"{number(v, 1, french)}{suffix}"


def change(delta: float, unit: str, french: bool = False) -> str:
    """By how much, signed: "-15.2 points", "-4.1 pts" for ratios (percentage points)."""
    sign = "+" if delta > 0 else "−"
    if unit == "ratio":
        return f"{sign}{number(abs(delta) * 100, 1, french)} pts"
    return f"{sign}{value(abs(delta), unit, french)}"


def _label(kpi: str | None, french: bool) -> str:
    catalogue = load_catalogue()
    if kpi not in catalogue:
        return kpi or ""
    return catalogue[kpi].label_fr if french else catalogue[kpi].label_en


def _unit(kpi: str | None) -> str:
    catalogue = load_catalogue()
    return catalogue[kpi].unit if kpi in catalogue else ""


def share(v: float | None, french: bool = False) -> str:
    return "?" if v is None else f"{number(v * 100, 0, french)} %"


def severity(value: str, french: bool = False) -> str:
    return _SEVERITY_FR.get(value, value) if french else value


def status(value: str, french: bool = False) -> str:
    return {"open": "ouvert", "resolved": "résolu"}.get(value, value) if french else value


def headline(group: Group, shifts: list[Alert], levers: frozenset[str]) -> tuple[str, str]:
    """What moved, where, by how much, on how many answers against how many, what explains it, and the
    service levers (`levers`: their KPI ids) that moved with it (EN, FR)."""
    if group.kpi == "data_quality":
        return shifts[0].message, shifts[0].message_fr
    main = next((a for a in shifts if a.kpi == group.kpi and a.scope == group.root.scope), None)
    main = main or next((a for a in shifts if a.kpi == group.kpi), shifts[0])
    root = group.root
    out = []
    for french in (False, True):
        unit = _unit(main.kpi)
        # survey KPIs count answers; service levers count contacts
        noun, noun_fr = ("answers", "réponses") if main.kpi in SURVEY_KPIS else ("contacts", "contacts")
        where = scope_name(root.scope, french)
        moved = f"{value(main.baseline_value, unit, french)} → {value(main.current_value, unit, french)}, " + (
            f"{count(main.n_current, True)} {noun_fr} contre {count(main.n_baseline, True)} sur la période de référence"
            if french
            else f"{count(main.n_current)} {noun} against {count(main.n_baseline)} in the baseline"
        )
        label, by = _label(main.kpi, french), change(main.delta or 0, unit, french)
        if french:
            text = f"{label} {by} sur {scope_name(main.scope, True)} ({moved}) ; cause localisée : {where}"
        else:
            text = f"{label} {by} on {scope_name(main.scope)} ({moved}); root: {where}"
        if root.parent is not None and root.explained_share is not None:
            parent = scope_name(root.parent, french)
            if french:
                text += f", qui explique {share(root.explained_share, True)} de l'évolution de {parent}"
            else:
                text += f", which explains {share(root.explained_share, False)} of the change on {parent}"
        if root.rate_share is not None and root.mix_share is not None:
            if french:
                text += (
                    f" (notes : {share(root.rate_share, True)}, "
                    f"répartition des {noun_fr} : {share(root.mix_share, True)})"
                )
            else:
                text += f" (scores: {share(root.rate_share, False)}, mix of {noun}: {share(root.mix_share, False)})"
        others = [a for a in shifts if a.kpi != main.kpi]
        related = sorted({_label(a.kpi, french) for a in others if a.kpi not in levers})
        # one figure per lever: the root's own scope when that lever moved there
        by_lever: dict[str, Alert] = {}
        for a in sorted(others, key=lambda a: a.scope != root.scope):
            if a.kpi in levers:
                by_lever.setdefault(a.kpi, a)
        lever_moves = [
            f"{_label(a.kpi, french)} {change(a.delta or 0, _unit(a.kpi), french)}"
            + ("" if a.scope == root.scope else f" ({scope_name(a.scope, french)})")
            for a in by_lever.values()
        ]
        if related:
            text += (". Ont aussi bougé : " if french else ". Also moved: ") + ", ".join(related)
        if lever_moves:
            text += (
                ". Leviers de service qui ont bougé : " if french else ". Service levers that moved: "
            ) + ", ".join(sorted(lever_moves))
        out.append(text + ".")
    return out[0], out[1]


def incident_message(event: str, incident: Incident, findings: list[Alert]) -> tuple[str, str]:
    """The notification text: event, headline, how many findings, evidence links."""
    en_event, fr_event = _EVENTS[event]
    en_event = en_event.format(severity=incident.severity)
    fr_event = fr_event.format(severity_fr=_SEVERITY_FR[incident.severity])
    n = incident.alerts
    en = f"{en_event} [{incident.severity}] {incident.headline} ({n} finding{'s' if n != 1 else ''})"
    fr = f"{fr_event} [{_SEVERITY_FR[incident.severity]}] {incident.headline_fr} ({n} constat{'s' if n != 1 else ''})"
    if incident.evidence:
        en += f" Evidence: {', '.join(incident.evidence)}"
        fr += f" Preuves : {', '.join(incident.evidence)}"
    return en, fr


def digest_message(period_type: str, period_start: str, items: list[DigestItem]) -> tuple[str, str]:
    """One message for the period: what is red, since when, which way it goes."""
    arrows = {"up": "↗", "down": "↘", "flat": "→"}
    day, month, year = period_start[8:10], period_start[5:7], period_start[:4]
    en_lines = [f"Targets missed, {period_type} starting {period_start}: {len(items)} KPI(s) red."]
    fr_lines = [
        f"Objectifs manqués, {'semaine' if period_type == 'week' else 'mois'} commençant le {day}/{month}/{year} : "
        f"{len(items)} indicateur(s) en rouge."
    ]
    for item in items[:MAX_DIGEST_LINES]:
        trend = arrows.get(item.trend or "", "")
        since_en = f", red since {item.red_since}" if item.red_since else ""
        since_fr = (
            f", rouge depuis le {item.red_since[8:10]}/{item.red_since[5:7]}/{item.red_since[:4]}"
            if item.red_since
            else ""
        )
        en_lines.append(
            f"- {item.label_en}, {scope_name(item.scope)}: {value(item.value, item.unit)} "
            f"(target {value(item.target, item.unit)}){since_en} {trend}".rstrip()
        )
        fr_lines.append(
            f"- {item.label_fr}, {scope_name(item.scope, True)} : {value(item.value, item.unit, True)} "
            f"(objectif {value(item.target, item.unit, True)}){since_fr} {trend}".rstrip()
        )
    if len(items) > MAX_DIGEST_LINES:
        en_lines.append(f"… and {len(items) - MAX_DIGEST_LINES} more on the dashboard.")
        fr_lines.append(f"… et {len(items) - MAX_DIGEST_LINES} autres sur le tableau de bord.")
    return "\n".join(en_lines), "\n".join(fr_lines)
