"""A journey rupture is a finding: an alert of rule journey_rupture, worded EN/FR, grouped into one incident
per journey, refreshed on a rerun, resolved when the step is back in line."""

from __future__ import annotations

from datetime import UTC, date, datetime

from cxpulse.config import Settings
from quality import alerts, incidents, journeys
from quality.drift import Windows
from tests.transforms.test_journey_steps import _weeks
from transforms.runner import build
from warehouse.db import connect


def test_planted_rupture_becomes_one_alert_and_one_incident_then_resolves(settings: Settings) -> None:
    con = connect(settings.warehouse_path)
    # 4 weeks from Monday 2 March with 4 % of 120 checkouts failing a week, then 30 % the week of 30 March
    _weeks(con, date(2026, 3, 2), 5, 120, [0.04, 0.04, 0.04, 0.04, 0.30], "r")
    build(con, settings)
    as_of = datetime(2026, 4, 3, 12, tzinfo=UTC)
    found = journeys.rupture_candidates(con, as_of)
    assert [(c.rule, c.kpi, c.scope, c.severity) for c in found] == [
        # failures rose by 30 - 4.2 = 25.8 points >= 2 x the minimum effect of 5 points: critical
        ("journey_rupture", "failure_rate", "touchpoint:checkout", "critical")
    ]
    c = found[0]
    # 36 of 120 failed this week; 4 weeks x 5 (round(120 x 0.04)) = 20 of 480 before
    assert (c.current_value, c.baseline_value, c.n_current, c.n_baseline) == (0.3, 20 / 480, 120, 480)
    q = f"{c.p_value:.2g}"
    assert c.message == (
        "Journey rupture: failures at step Checkout of the Purchase journey rose from 4.2 % to 30.0 % on 120 "
        f"journeys in the week starting 2026-03-30, against 480 in the 4 weeks before (q = {q})."
    )
    assert c.message_fr == (
        "Rupture de parcours : le taux d'échec à l'étape Validation de commande du parcours Achat passe de 4,2 % à "
        f"30,0 % sur 120 parcours la semaine du 30/03/2026, contre 480 sur les 4 semaines précédentes (q = {q})."
    )
    windows = Windows.ending(as_of, 7, 28)
    for _ in range(2):  # a rerun refreshes the alert and keeps the incident
        changes = alerts.apply(con, found, as_of, {journeys.RULE})
        transitions = incidents.update(con, settings, windows, [], as_of)
    assert (len(changes.opened), len(changes.refreshed)) == (0, 1)
    assert transitions == []
    (incident,) = incidents.load(con)
    assert (incident.status, incident.severity, incident.root_scope, incident.alerts) == (
        "open",
        "critical",
        "touchpoint:checkout",
        1,
    )
    assert incident.headline == c.message and incident.headline_fr == c.message_fr
    members = con.execute("select count(*) from marts.alerts where incident_id = ?", [incident.incident_id])
    assert members.fetchall() == [(1,)]

    # the week after is back to 4 %: no rupture, the alert and the incident resolve
    _weeks(con, date(2026, 4, 6), 1, 120, [0.04], "s")
    build(con, settings)
    later = datetime(2026, 4, 10, 12, tzinfo=UTC)
    assert journeys.rupture_candidates(con, later) == []
    changes = alerts.apply(con, [], later, {journeys.RULE})
    assert len(changes.resolved) == 1
    transitions = incidents.update(con, settings, Windows.ending(later, 7, 28), [], later)
    assert [t.event for t in transitions] == ["resolved"]
    con.close()
