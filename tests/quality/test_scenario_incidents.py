"""The scenarios beyond the demo's, through the real path without Kafka: the simulator -> landing files ->
loader -> full build of the marts -> drift -> alerts -> incidents. Each injected cause must become exactly
one incident, rooted where it was injected (the mix shift: at `all`, mostly explained by the mix).

36 days: the 7-day current window, its 28-day baseline and a day to spare; 90,000 customers give about
1,000 chat answers a week (the demo's 125,000 about 1,400). bench/incidents.py records the same
scenarios with the whole quality check (docs/alerts.md, BENCHMARKS.md).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from cxpulse.config import Settings
from quality import alerts, incidents, notifications
from quality.drift import RULES, Windows, detect
from streams.simulator import SimulationOptions, parse_scenario, simulate
from transforms.runner import build
from warehouse import loader
from warehouse.db import connect

pytestmark = pytest.mark.slow  # about 20 s each on an idle 2-core machine (simulation, load, build)

END = datetime(2026, 11, 23, tzinfo=UTC)
DAYS, CUSTOMERS = 36, 90_000
CHAT = ("channel:chat", "touchpoint:web_chat", "touchpoint:app_chat")


def incidents_of(scenarios: str, settings: Settings, land) -> tuple[list[incidents.Transition], list]:
    """One quality run's drift part as of the end of a simulation with `scenarios` (separated by spaces):
    the transitions and the notifications recorded."""
    settings = dataclasses.replace(settings, reporting_timezone="Europe/Paris")
    injected = tuple(parse_scenario(text) for text in scenarios.split())
    options = SimulationOptions(DAYS, CUSTOMERS, seed=42, scenarios=injected, end=END)
    messages: dict[str, list[bytes]] = {"touchpoints": [], "surveys": []}
    simulate(options, lambda kind, value, _key: messages[kind].append(value))
    for kind, values in messages.items():
        land(settings, kind, values)
    con = connect(settings.warehouse_path)
    try:
        loader.load(con, settings)
        build(con, settings, full=True)
        windows = Windows.ending(END, settings.alert_current_days, settings.alert_baseline_days)
        findings = detect(con, settings, windows)
        alerts.apply(con, alerts.shift_candidates(findings, None), END, set(RULES.values()))
        transitions = incidents.update(con, settings, windows, findings, END)
        notifications.record_incidents(con, transitions, END)
        sent = con.execute("select kind, event from marts.notifications").fetchall()
    finally:
        con.close()
    return transitions, sent


def test_a_gradual_decline_over_three_weeks_is_one_incident_on_the_chat(settings: Settings, land) -> None:
    # 15 points reached at the end, linearly from 3 weeks ago: the current week is ~10 points below its baseline
    transitions, sent = incidents_of("nps-drop:channel=chat:from=-21d:points=15:ramp=21d", settings, land)
    assert [t.event for t in transitions] == ["opened"] and sent == [("incident", "opened")]
    incident = transitions[0].incident
    assert incident.root_scope in CHAT and incident.root_kpi == "nps"
    assert incident.rate_share is not None and incident.rate_share > 0.8  # the chat's scores fell


def test_a_drop_in_one_segment_across_all_channels_is_one_incident_on_that_segment(settings: Settings, land) -> None:
    # pro: ~600 answers a week; a 20-point drop (15 points moved only its CES enough to be significant)
    transitions, sent = incidents_of("nps-drop:segment=pro:from=-7d:points=20", settings, land)
    assert [t.event for t in transitions] == ["opened"] and sent == [("incident", "opened")]
    incident = transitions[0].incident
    assert incident.root_scope == "segment:pro" and incident.root_kpi == "nps"


def test_a_wait_spike_is_one_incident_on_its_queue_with_the_scores_it_dragged(settings: Settings, land) -> None:
    # waits x5 on the app chat: answer rate and service level fall, and the NPS of its answers with them
    # (on the billing hotline, ~110 answers a week, the same spike moved only the service levers
    # significantly: docs/alerts.md)
    transitions, sent = incidents_of("wait-spike:queue=app_chat:from=-7d:factor=5", settings, land)
    assert [t.event for t in transitions] == ["opened"] and sent == [("incident", "opened")]
    incident = transitions[0].incident
    assert incident.root_scope == "touchpoint:app_chat" and incident.root_kpi == "nps"
    assert {"answer_rate", "service_level"} <= set(incident.levers)


def test_a_mix_shift_toward_a_worse_channel_is_one_incident_explained_by_the_mix(settings: Settings, land) -> None:
    # the chat worse than the rest for the whole history (~20 points: the simulator's own gap, a few points,
    # moves the total less than min_effect), then the answers move toward it; no channel's scores change.
    # Residential (~70 % of the answers) falls with the total by its own channel mix: not the root.
    transitions, sent = incidents_of(
        "nps-drop:channel=chat:from=-36d:points=20 mix-shift:channel=chat:from=-7d:factor=5", settings, land
    )
    assert [t.event for t in transitions] == ["opened"] and sent == [("incident", "opened")]
    incident = transitions[0].incident
    # most of the fall is the mix (seed 42: 0.78; the rest is the noise of the other channels' scores on their
    # fewer answers, weighted by their former share)
    assert incident.root_scope == "all"
    assert incident.mix_share is not None and incident.mix_share > 0.5
