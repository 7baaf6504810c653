"""What an incident, a finding or a digest says, in English and French.

Words of the sentences live here; the typography (numbers, dates, scope kinds) in streams.formatting and the
names (KPI labels, French scope names) in the KPI catalogue: French numbers use a comma for decimals and a
narrow no-break space between thousands (2 328 ; 10,2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quality.drift import SURVEY_KPIS
from streams import formatting
from streams.alert_contract import Alert, DigestItem, Incident
from transforms.catalogue import load_catalogue, scope_names
from transforms.verbatims.analyse import analyser

if TYPE_CHECKING:
    from quality.incidents import Group

_EVENTS = {
    "opened": ("Incident", "Incident"),
    "severity_changed": ("Incident now {severity}", "Incident désormais {severity_fr}"),
    "resolved": ("Resolved", "Résolu"),
    "snooze_ended": ("Still open after its snooze", "Toujours ouvert à la fin de sa mise en pause"),
}
_SEVERITY_FR = formatting.SEVERITY_FR
MAX_DIGEST_LINES = 15

# the typography lives in streams.formatting; these add the catalogue's scope names
number, count, value, change = formatting.number, formatting.count, formatting.value, formatting.change
severity, status, day = formatting.severity, formatting.status, formatting.day


def scope_name(scope: str, french: bool = False) -> str:
    """A scope inside a sentence: "the chat channel", "le canal téléphone", "l'ensemble des clients"."""
    return formatting.scope_name(scope, french, scope_names())


def scope_label(scope: str, french: bool = False) -> str:
    """A scope as a table cell: "canal téléphone", "ensemble" in French; as stored in English."""
    return formatting.scope_label(scope, french, scope_names())


def _label(kpi: str | None, french: bool) -> str:
    catalogue = load_catalogue()
    if kpi not in catalogue:
        return kpi or ""
    return catalogue[kpi].label_fr if french else catalogue[kpi].label_en


def kpi_label(kpi: str | None, french: bool = False) -> str:
    """The KPI's catalogue label (its id when the catalogue does not know it)."""
    return _label(kpi, french)


def _unit(kpi: str | None) -> str:
    catalogue = load_catalogue()
    return catalogue[kpi].unit if kpi in catalogue else ""


def share(v: float | None, french: bool = False) -> str:
    return formatting.percent(v, 0, french)


def headline(group: Group, shifts: list[Alert], levers: frozenset[str]) -> tuple[str, str]:
    """What moved, where, by how much, on how many answers against how many, what explains it, and the
    service levers (`levers`: their KPI ids) that moved with it (EN, FR)."""
    if group.kpi in ("data_quality", "emerging_topic"):
        return shifts[0].message, shifts[0].message_fr
    if group.kpi == "journey_rupture":  # each finding is a sentence about one step of the journey
        return " ".join(a.message for a in shifts), " ".join(a.message_fr for a in shifts)
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
        others = [a for a in shifts if a.kpi != main.kpi and a.rule != "emerging_topic"]
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
        topics = sorted({_topic_label(a.kpi, french) for a in shifts if a.rule == "emerging_topic"})
        if topics:
            text += (
                ". Sujets émergents des verbatims : " if french else ". Emerging topics in verbatims: "
            ) + ", ".join(topics)
        out.append(text + ".")
    return out[0], out[1]


def _topic_label(kpi: str | None, french: bool) -> str:
    """The taxonomy label of an emerging_topic finding's kpi (`<measure>:<topic>`)."""
    topic = (kpi or "").rpartition(":")[2]
    known = analyser().topics.get(topic)
    if known is None:
        return topic
    return known.label_fr if french else known.label_en


def incident_message(event: str, incident: Incident, findings: list[Alert]) -> tuple[str, str]:
    """The notification text: event, headline, how many findings, evidence links."""
    en_event, fr_event = _EVENTS[event]
    en_event = en_event.format(severity=incident.severity)
    fr_event = fr_event.format(severity_fr=_SEVERITY_FR[incident.severity])
    n = incident.alerts
    en = f"{en_event} [{incident.severity}] {incident.headline} ({n} finding{'s' if n != 1 else ''})"
    plural = "s" if n != 1 else ""
    fr = f"{fr_event} [{_SEVERITY_FR[incident.severity]}] {incident.headline_fr} {n} constat{plural} regroupé{plural}."
    if incident.evidence:
        en += f" Evidence: {', '.join(incident.evidence)}"
        fr += f" Preuves : {', '.join(incident.evidence)}"
    return en, fr


def digest_message(period_type: str, period_start: str, items: list[DigestItem]) -> tuple[str, str]:
    """One message for the period: what is red, since when, which way it goes."""
    arrows = {"up": "↗", "down": "↘", "flat": "→"}
    en_lines = [f"Targets missed, {period_type} starting {period_start}: {len(items)} KPI(s) red."]
    fr_lines = [
        f"Objectifs manqués, {'semaine' if period_type == 'week' else 'mois'} commençant le "
        f"{day(period_start, True)} : {len(items)} indicateur(s) en rouge."
    ]
    for item in items[:MAX_DIGEST_LINES]:
        trend = arrows.get(item.trend or "", "")
        since_en = f", red since {item.red_since}" if item.red_since else ""
        since_fr = f", rouge depuis le {day(item.red_since, True)}" if item.red_since else ""
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
