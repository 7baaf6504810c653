"""Incidents: the findings (open drift alerts) that one root cause explains, grouped, localised and explained.

A CX lead is told about incidents, not findings (docs/alerts.md). One run:

1. Localise the root of each firing finding: from its scope, descend into the partition of that scope
   (all -> channels or segments, channel -> its touchpoints) while ONE child that itself fires accounts
   for at least ROOT_SHARE of the node's change (when the mix of one partition accounts for more than MIX_SHARE
   of it, only that partition's children qualify). The child's contribution to the parent's change is split
   into a rate part (its score moved) and a mix part (its share of answers moved toward or away from it):
   w'v' - wv summed over children = rate + mix, rate_c = (w_c + w'_c)/2 (v'_c - v_c),
   mix_c = (w'_c - w_c) ((v_c + v'_c)/2 - (V + V')/2), which add up exactly to the parent's change.
2. Group, most important KPI first (NPS, CSAT, CES, then the service levers): a finding joins an incident
   when its scope lies inside the incident's root (a touchpoint of the channel, the same scope), or when,
   on its own scope with the root's answers taken out, the change is no longer significant and material
   (the residual test): `all` or a segment that fell only because the chat fell. A finding the root does
   not explain stays its own incident (a real second problem on a segment is not swallowed).
3. An open incident keeps its id as long as one of its findings stays open; it resolves when none is.
   Notifications: one when an incident opens, changes severity or resolves (quality.notifications).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import msgspec

from cxpulse.config import Settings
from quality import wording
from quality.alerts import table_columns
from quality.drift import ALPHA, RULES, SURVEY_KPIS, TESTS, Finding, Side, Windows, proportion_test
from streams.alert_contract import SEVERITY_RANK, Alert, Incident
from transforms.catalogue import service_levers
from warehouse.db import transaction

# A child scope is the root when it accounts for at least this share of its parent's change.
ROOT_SHARE = 0.8
# When, over one partition of a scope, answers moving between its children (the mix) account for more
# than this share of the scope's change, the children of the other partitions cannot be its root.
MIX_SHARE = 0.5
KPI_ORDER = ("nps", "csat", "ces_easy_rate", "answer_rate", "service_level", "fcr_rate", "aht_s")
LEVERS = service_levers()  # the KPI catalogue marks them (service_lever: true)
DRIFT_RULES = frozenset({*RULES.values(), "distribution_drift"})
# Findings that people are told about through incidents; target breaches go to the digest instead, and a
# failed data-quality check is an incident of its own (the snapshot was not published).
# A journey rupture (quality.journeys) is an incident of its journey: its ruptured steps together.
GROUPED_RULES = DRIFT_RULES | {"data_quality", "journey_rupture", "emerging_topic"}

DDL = f"""
create table if not exists marts.incidents (
    {", ".join(table_columns(Incident)).replace("incident_id varchar not null", "incident_id varchar primary key")}
)
"""


@dataclass
class Root:
    scope: str
    parent: str | None
    explained_share: float | None
    rate_share: float | None
    mix_share: float | None


@dataclass
class Group:
    root: Root
    kpi: str
    members: list[Alert] = field(default_factory=list)


# -- scopes -----------------------------------------------------------------------------------------------
def touchpoint_channels(con: duckdb.DuckDBPyConnection, windows: Windows) -> dict[str, str]:
    """Each touchpoint (survey touchpoint or contact queue) -> the channel most of its events come through."""
    rows = con.execute(
        """
        with seen as (
            select touchpoint, channel from staging.stg_survey_responses
            where occurred_at >= $baseline_start and occurred_at < $as_of
            union all
            select queue, channel from staging.stg_contacts
            where occurred_at >= $baseline_start and occurred_at < $as_of
        )
        select touchpoint, arg_max(channel, n) from (select touchpoint, channel, count(*) as n from seen group by all)
        group by touchpoint""",
        {"baseline_start": windows.baseline_start, "as_of": windows.as_of},
    ).fetchall()
    return dict(rows)


def parent_of(scope: str, channel_of: dict[str, str]) -> str | None:
    kind, _, value = scope.partition(":")
    if kind == "touchpoint":
        return f"channel:{channel_of[value]}" if value in channel_of else "all"
    return None if scope == "all" else "all"


def inside(scope: str, root: str, channel_of: dict[str, str]) -> bool:
    """scope is root or nested in it (all > channel > touchpoint; segments only inside all)."""
    while scope is not None:
        if scope == root:
            return True
        scope = parent_of(scope, channel_of)
    return False


def _partitions(scope: str, scopes: set[str], channel_of: dict[str, str]) -> list[list[str]]:
    if scope == "all":
        return [sorted(s for s in scopes if s.startswith(prefix)) for prefix in ("channel:", "segment:")]
    if scope.startswith("channel:"):
        return [sorted(s for s in scopes if s.startswith("touchpoint:") and parent_of(s, channel_of) == scope)]
    return []


# -- decomposition ----------------------------------------------------------------------------------------
def decompose(children: dict[str, Finding]) -> dict[str, tuple[float, float]]:
    """child -> (rate, mix) contribution to the change of the parent that the children partition."""
    n_cur = sum(f.test.current.n for f in children.values())
    n_base = sum(f.test.baseline.n for f in children.values())
    usable = {
        s: f for s, f in children.items() if f.test.current_value is not None and f.test.baseline_value is not None
    }
    if not n_cur or not n_base or not usable:
        return {}
    parent_cur = sum(f.test.current.n * f.test.current_value for f in usable.values()) / n_cur
    parent_base = sum(f.test.baseline.n * f.test.baseline_value for f in usable.values()) / n_base
    mean_parent = (parent_cur + parent_base) / 2
    out = {}
    for scope, f in usable.items():
        w_cur, w_base = f.test.current.n / n_cur, f.test.baseline.n / n_base
        v_cur, v_base = f.test.current_value, f.test.baseline_value
        out[scope] = ((w_cur + w_base) / 2 * (v_cur - v_base), (w_cur - w_base) * ((v_cur + v_base) / 2 - mean_parent))
    return out


def localise(finding: Finding, tested: dict[str, Finding], firing: set[str], channel_of: dict[str, str]) -> Root:
    """The smallest scope under the finding's scope that explains its change (see the module docstring)."""
    node = finding.test.scope
    while True:
        best: tuple[float, str] | None = None
        decomposed = []
        for partition in _partitions(node, set(tested), channel_of):
            parts = decompose({s: tested[s] for s in partition})
            total = sum(r + m for r, m in parts.values())
            if total:
                decomposed.append((parts, total))
        # A mix shift over one partition (answers moved toward a worse channel) also moves every scope that
        # crosses it (each segment's own channel mix moved): only that partition's children can be the root.
        mixed = [(parts, total) for parts, total in decomposed if sum(m for _, m in parts.values()) / total > MIX_SHARE]
        for parts, total in mixed or decomposed:
            for scope, (rate, mix) in parts.items():
                share = (rate + mix) / total
                if scope in firing and share >= ROOT_SHARE and (best is None or share > best[0]):
                    best = (share, scope)
        if best is None:
            break
        node = best[1]
    return _root(node, tested, channel_of)


def _root(scope: str, tested: dict[str, Finding], channel_of: dict[str, str]) -> Root:
    """explained_share and the rate / mix split of the root against its parent; a root without a parent
    (`all`) explains its own change, split over its channels."""
    parent = parent_of(scope, channel_of)
    if parent is None:
        for partition in _partitions(scope, set(tested), channel_of)[:1]:
            parts = decompose({s: tested[s] for s in partition})
            total = sum(r + m for r, m in parts.values())
            if total:
                rate = sum(r for r, _ in parts.values())
                return Root(scope, None, 1.0, rate / total, 1 - rate / total)
        return Root(scope, None, 1.0, None, None)
    siblings = next((p for p in _partitions(parent, set(tested), channel_of) if scope in p), [scope])
    parts = decompose({s: tested[s] for s in siblings})
    total = sum(r + m for r, m in parts.values())
    if not total or scope not in parts:
        return Root(scope, parent, None, None, None)
    rate, mix = parts[scope]
    return Root(scope, parent, (rate + mix) / total, rate / total, mix / total)


# -- residual test: the finding's scope without the root's answers -------------------------------------------
_COLUMNS = {
    "survey": {"channel": "channel", "touchpoint": "touchpoint", "segment": "segment"},
    "contact": {"channel": "channel", "touchpoint": "queue", "segment": "segment"},
}


def _predicate(scope: str, source: str, name: str) -> tuple[str, dict]:
    if scope == "all":
        return "true", {}
    kind, _, value = scope.partition(":")
    return f"{_COLUMNS[source][kind]} = ${name}", {name: value}  # column from the fixed map, value bound


def residual_sides(
    con: duckdb.DuckDBPyConnection, settings: Settings, kpi: str, scope: str, root: str, windows: Windows
) -> tuple[Side, Side] | None:
    """(current, baseline) of `kpi` on `scope` without the answers of `root`; None when not computable."""
    if kpi == "fcr_rate":
        return None  # FCR comes from the mart's repeat flags, with no segment: grouped by nesting only
    source = "survey" if kpi in SURVEY_KPIS else "contact"
    keep, p1 = _predicate(scope, source, "scope_value")
    drop, p2 = _predicate(root, source, "root_value")
    table = "staging.stg_survey_responses" if source == "survey" else "staging.stg_contacts"
    measures = {
        "nps": "count(nps) as n, count(*) filter (where is_promoter) as a, count(*) filter (where is_detractor) as b",
        "csat": "count(csat) as n, count(*) filter (where is_satisfied) as a, 0 as b",
        "ces_easy_rate": "count(ces) as n, count(*) filter (where is_easy) as a, 0 as b",
        "answer_rate": "count(*) as n, count(*) filter (where outcome = 'answered') as a, 0 as b",
        "service_level": "count(*) as n, count(*) filter (where outcome = 'answered' and wait_s <= $target) as a, "
        "0 as b",
        "aht_s": "count(handle_s) as n, coalesce(sum(handle_s), 0) as a, coalesce(sum(handle_s * handle_s), 0) as b",
    }[kpi]
    params = {"current_start": windows.current_start, "baseline_start": windows.baseline_start, "as_of": windows.as_of}
    if kpi == "service_level":
        params["target"] = settings.service_level_target_s
    # per customer first, so that the residual test has the same clustered variance as the findings
    y = "a - b" if kpi == "nps" else "a"
    rows = con.execute(
        f"""with customers as (
                select occurred_at >= $current_start as current, customer_id, {measures}
                from {table}
                where occurred_at >= $baseline_start and occurred_at < $as_of and {keep}
                  and not coalesce({drop}, false)
                group by all
            )
            select current, sum(n), sum(a), sum(b), count(*) filter (where n > 0),
                   sum(({y}) ^ 2), sum(({y}) * n), sum(n ^ 2)
            from customers group by current""",  # noqa: S608 - table, measures and columns from fixed maps; values bound
        {**params, **p1, **p2},
    ).fetchall()
    sides = {
        current: Side(int(n or 0), float(a or 0), float(b or 0), int(k or 0), yy or 0.0, yn or 0.0, nn or 0.0)
        for current, n, a, b, k, yy, yn, nn in rows
    }
    return sides.get(True, Side(0)), sides.get(False, Side(0))


def explained_by(
    con: duckdb.DuckDBPyConnection, settings: Settings, finding: Finding, root: str, channel_of: dict[str, str]
) -> bool:
    """Does the root account for this finding? Inside the root: yes. Otherwise: yes when, without the root's
    answers, the change on the finding's scope is no longer significant (p > ALPHA) or no longer material."""
    if inside(finding.test.scope, root, channel_of):
        return True
    sides = residual_sides(con, settings, finding.test.kpi, finding.test.scope, root, finding.windows)
    if sides is None:
        return False
    current, baseline = sides
    if min(current.n, baseline.n) < finding.kpi.min_n:
        return True  # what is left is too small to be a finding of its own
    value_c, value_b, p = TESTS.get(finding.test.kpi, proportion_test)(current, baseline)
    if p is None or value_c is None or value_b is None:
        return True
    return p > ALPHA or abs(value_c - value_b) < finding.kpi.min_effect


# -- grouping -----------------------------------------------------------------------------------------------
def group(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    windows: Windows,
    findings: list[Finding],
    open_alerts: list[Alert],
) -> list[Group]:
    """Open drift alerts grouped into incidents (see the module docstring)."""
    channel_of = touchpoint_channels(con, windows)
    by_key = {(f.test.kpi, f.test.scope): f for f in findings}
    firing: dict[str, set[str]] = {}
    for f in findings:
        if f.fires:
            firing.setdefault(f.test.kpi, set()).add(f.test.scope)
    shifts = [a for a in open_alerts if a.rule in RULES.values() and (a.kpi, a.scope) in by_key]

    def order(a: Alert) -> tuple:
        depth = 0 if a.scope == "all" else 1 if not a.scope.startswith("touchpoint:") else 2
        return (KPI_ORDER.index(a.kpi) if a.kpi in KPI_ORDER else 99, -SEVERITY_RANK[a.severity], depth, a.scope)

    groups: list[Group] = []
    for alert in sorted(shifts, key=order):
        finding = by_key[(alert.kpi, alert.scope)]
        home = next((g for g in groups if explained_by(con, settings, finding, g.root.scope, channel_of)), None)
        if home is None:
            tested = {s: f for (k, s), f in by_key.items() if k == alert.kpi}
            root = localise(finding, tested, firing.get(alert.kpi, set()), channel_of)
            # a root found inside an existing incident's root belongs to it
            home = next((g for g in groups if inside(root.scope, g.root.scope, channel_of)), None)
            if home is None:
                home = Group(root, alert.kpi)
                # A channel root takes in the incidents of its touchpoints opened before it by more severe
                # findings (a touchpoint's small sample moves further): one cause on the channel, one incident.
                nested = [
                    g
                    for g in groups
                    if root.scope.startswith("channel:") and inside(g.root.scope, root.scope, channel_of)
                ]
                for g in nested:
                    home.members.extend(g.members)
                    groups.remove(g)
                groups.append(home)
        home.members.append(alert)
    # the Evidently twin of a shift joins the shift's incident; other findings stay out of incidents
    for alert in open_alerts:
        if alert.rule == "distribution_drift":
            twin = next((g for g in groups for m in g.members if (m.kpi, m.scope) == (alert.kpi, alert.scope)), None)
            if twin is not None:
                twin.members.append(alert)
        elif alert.rule == "data_quality":
            groups.append(Group(Root("all", None, None, None, None), "data_quality", [alert]))
        elif alert.rule == "journey_rupture":
            journey = alert.dedupe_key.split("|")[1]
            home = next(
                (g for g in groups if g.kpi == "journey_rupture" and g.members[0].dedupe_key.split("|")[1] == journey),
                None,
            )
            if home is None:  # root: the step of the journey's first finding
                groups.append(Group(Root(alert.scope, None, None, None, None), "journey_rupture", [alert]))
            else:
                home.members.append(alert)
    # an emerging verbatim topic joins the incident whose root holds its scope (what customers write about
    # the chat beside the chat's NPS drop), else it is an incident of its own
    for alert in open_alerts:
        if alert.rule == "emerging_topic":
            home = next(
                (
                    g
                    for g in groups
                    if g.kpi not in ("data_quality", "journey_rupture")
                    and inside(alert.scope, g.root.scope, channel_of)
                ),
                None,
            )
            if home is None:
                home = Group(Root(alert.scope, None, None, None, None), "emerging_topic")
                groups.append(home)
            home.members.append(alert)
    return groups


# -- marts.incidents -----------------------------------------------------------------------------------------
_ALERT_FIELDS = [f.name for f in msgspec.structs.fields(Alert)]
_INCIDENT_FIELDS = [f.name for f in msgspec.structs.fields(Incident)]


def open_grouped_alerts(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    rows = con.execute(
        f"select {', '.join(_ALERT_FIELDS)} from marts.alerts where status = 'open' "  # noqa: S608 - contract fields
        f"and rule in ({', '.join('?' * len(GROUPED_RULES))}) order by alert_id",
        sorted(GROUPED_RULES),
    ).fetchall()
    return [Alert(**dict(zip(_ALERT_FIELDS, row, strict=True))) for row in rows]


def load(con: duckdb.DuckDBPyConnection, where: str = "true", params: list | None = None) -> list[Incident]:
    ensure_table(con)
    rows = con.execute(
        f"select {', '.join(_INCIDENT_FIELDS)} from marts.incidents where {where} order by opened_at",  # noqa: S608
        params or [],
    ).fetchall()
    return [Incident(**dict(zip(_INCIDENT_FIELDS, row, strict=True))) for row in rows]


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass
class Transition:
    """What people are told this run about one incident."""

    event: str  # opened | severity_changed | resolved | snooze_ended (quality.lifecycle)
    incident: Incident
    findings: list[Alert]
    previous_severity: str | None = None  # severity_changed: the severity of the previous run


def _incident(group: Group, incident_id: str, opened_at: datetime, as_of: datetime, windows: Windows) -> Incident:
    shifts = [m for m in group.members if m.rule != "distribution_drift"]
    kpis = sorted({m.kpi for m in group.members if m.kpi}, key=lambda k: KPI_ORDER.index(k) if k in KPI_ORDER else 99)
    headline, headline_fr = wording.headline(group, shifts, LEVERS)
    return Incident(
        incident_id=incident_id,
        status="open",
        severity=max((m.severity for m in shifts), key=SEVERITY_RANK.__getitem__, default="info"),
        opened_at=opened_at,
        last_seen_at=as_of,
        root_scope=group.root.scope,
        explained_share=group.root.explained_share,
        kpis=kpis,
        alerts=len(group.members),
        headline=headline,
        headline_fr=headline_fr,
        evidence=sorted({m.evidence for m in group.members if m.evidence}),
        root_kpi=group.kpi,
        parent_scope=group.root.parent,
        rate_share=group.root.rate_share,
        mix_share=group.root.mix_share,
        levers=[k for k in kpis if k in LEVERS],
        window_start=windows.current_start,
        window_end=windows.as_of,
    )


def update(
    con: duckdb.DuckDBPyConnection, settings: Settings, windows: Windows, findings: list[Finding], as_of: datetime
) -> list[Transition]:
    """Regroup the open drift alerts, write marts.incidents and marts.alerts.incident_id, and return what
    changed for people: opened, severity changed, resolved."""
    ensure_table(con)
    alerts = open_grouped_alerts(con)
    groups = group(con, settings, windows, findings, alerts)
    open_incidents = {i.incident_id: i for i in load(con, "status = 'open'")}
    transitions: list[Transition] = []
    kept: set[str] = set()
    with transaction(con):
        for g in groups:
            # same incident as last run when one of its findings already belonged to an open incident
            previous = Counter(
                m.incident_id for m in g.members if m.incident_id in open_incidents and m.incident_id not in kept
            )
            if previous:
                incident_id = previous.most_common(1)[0][0]
                before = open_incidents[incident_id]
                incident = _incident(g, incident_id, before.opened_at, as_of, windows)
                if incident.severity != before.severity:
                    transitions.append(Transition("severity_changed", incident, g.members, before.severity))
            else:
                key = f"cxpulse:incident:{g.kpi}:{g.root.scope}:{as_of.isoformat()}"
                incident = _incident(g, str(uuid.uuid5(uuid.NAMESPACE_URL, key)), as_of, as_of, windows)
                transitions.append(Transition("opened", incident, g.members))
            kept.add(incident.incident_id)
            con.execute("delete from marts.incidents where incident_id = ?", [incident.incident_id])
            _insert(con, incident)
            con.executemany(
                "update marts.alerts set incident_id = ? where alert_id = ?",
                [[incident.incident_id, m.alert_id] for m in g.members],
            )
        for incident_id, before in open_incidents.items():
            if incident_id in kept:
                continue
            resolved = msgspec.structs.replace(before, status="resolved", resolved_at=as_of, last_seen_at=as_of)
            con.execute(
                "update marts.incidents set status = 'resolved', resolved_at = ?, last_seen_at = ? "
                "where incident_id = ?",
                [as_of, as_of, incident_id],
            )
            members = [
                Alert(**dict(zip(_ALERT_FIELDS, row, strict=True)))
                for row in con.execute(
                    f"select {', '.join(_ALERT_FIELDS)} from marts.alerts where incident_id = ?",  # noqa: S608
                    [incident_id],
                ).fetchall()
            ]
            transitions.append(Transition("resolved", resolved, members))
    return transitions


def _insert(con: duckdb.DuckDBPyConnection, incident: Incident) -> None:
    values = [getattr(incident, name) for name in _INCIDENT_FIELDS]
    con.execute(
        f"insert into marts.incidents ({', '.join(_INCIDENT_FIELDS)}) "  # noqa: S608 - contract fields
        f"values ({', '.join('?' * len(_INCIDENT_FIELDS))})",
        values,
    )
