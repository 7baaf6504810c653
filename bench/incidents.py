"""What a CX lead is told about the demo's scenario and about the scenarios beyond it.

Each scenario: the simulator (the demo's options: 125,000 customers, seed 42, malformed and duplicate
messages) -> landing files as the consumer writes them -> loader -> full build of the marts -> the whole
quality check of `cx_quality` (`quality.check.run_checks`: gates, drift, Evidently, target breaches,
alerts, incidents, target digests; no delivery) as of the end of the simulation, on a new warehouse as
the demo's. Kafka and Airflow are left out: they move the same events (tests/e2e/test_demo.py runs
that path). Figures: incidents notified, their root, explained_share and mix share, open findings,
target digests that would be delivered.

Usage: python -m bench.incidents [--days 90] [--customers 125000] [--scenarios]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cxpulse.config import Settings
from quality.check import run_checks
from streams.contracts import ContractError, decode_survey, decode_touchpoint
from streams.landing import batch_path, events_table, write_durably
from streams.simulator import SimulationOptions, parse_scenario, simulate
from transforms.runner import build
from warehouse import loader
from warehouse.db import connect

DEMO = "nps-drop:channel=chat:from=-7d:points=15"  # cxpulse.cli.DEMO_SCENARIO
CHAT = ("channel:chat", "touchpoint:web_chat", "touchpoint:app_chat")
# the scenarios beyond the demo's (tests/quality/test_scenario_incidents.py): customers, the roots that are right
SCENARIOS = {
    "nps-drop:channel=chat:from=-21d:points=15:ramp=21d": (90_000, CHAT),
    "nps-drop:segment=pro:from=-7d:points=20": (90_000, ("segment:pro",)),
    "wait-spike:queue=app_chat:from=-7d:factor=5": (90_000, ("touchpoint:app_chat",)),
    "wait-spike:queue=billing_hotline:from=-7d:factor=5": (90_000, ("touchpoint:billing_hotline",)),
    # the chat worse for the whole history, then the answers move toward it (scenarios separated by a space)
    "nps-drop:channel=chat:from=-36d:points=20 mix-shift:channel=chat:from=-7d:factor=5": (90_000, ("all",)),
}
END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday, midnight UTC like the demo's history


def land(settings: Settings, options: SimulationOptions) -> None:
    """The simulated messages as landing files, decoded and validated as the consumer does (the malformed
    ones are left out: the consumer dead-letters them)."""
    messages: dict[str, list[bytes]] = {"touchpoints": [], "surveys": []}
    simulate(options, lambda kind, value, _key: messages[kind].append(value))
    topics = {"touchpoints": settings.topic_touchpoints, "surveys": settings.topic_surveys}
    decoders = {"touchpoints": decode_touchpoint, "surveys": decode_survey}
    for kind, values in messages.items():
        events, payloads, offsets = [], [], []
        for offset, value in enumerate(values):
            try:
                events.append(decoders[kind](value, END))
            except ContractError:
                continue
            payloads.append(value)
            offsets.append(offset)
        table = events_table(kind, events, payloads, offsets, topics[kind], 0)
        write_durably(table, batch_path(settings.landing_dir, topics[kind], 0, 0, len(values) - 1))


def measure(scenario: str, days: int, customers: int, home: Path) -> dict:
    settings = dataclasses.replace(Settings(), home=home, reporting_timezone="Europe/Paris")
    options = SimulationOptions(
        days, customers, seed=42, scenarios=tuple(map(parse_scenario, scenario.split())), malformed_rate=0.001,
        duplicate_rate=0.002, end=END,
    )  # fmt: skip
    started = time.perf_counter()
    land(settings, options)
    con = connect(settings.warehouse_path)
    try:
        loader.load(con, settings)
        build(con, settings, full=True)
        result = run_checks(con, settings, END, deliver=False)
        opened = con.execute(
            "select i.root_scope, i.root_kpi, i.explained_share, i.rate_share, i.mix_share, i.alerts, i.kpis "
            "from marts.notifications n join marts.incidents i on i.incident_id = n.subject_id "
            "where n.kind = 'incident' and n.event = 'opened' order by i.severity, i.root_scope"
        ).fetchall()
        digests = con.execute(
            "select delivery_status, count(*) from marts.notifications where kind = 'digest' group by all"
        ).fetchall()
        findings = con.execute(
            "select rule = 'target_breach', count(*) from marts.alerts where status = 'open' group by all"
        ).fetchall()
    finally:
        con.close()
    open_findings = dict(findings)
    return {
        "scenario": scenario,
        "days": days,
        "customers": customers,
        "quality_failures": result.quality_failures,
        "incidents_notified": len(opened),
        "incidents": [
            {
                "root": r,
                "root_kpi": k,
                "explained_share": e,
                "rate_share": rs,
                "mix_share": ms,
                "findings": n,
                "kpis": list(kpis),
            }
            for r, k, e, rs, ms, n, kpis in opened
        ],  # fmt: skip
        "open_drift_findings": open_findings.get(False, 0),
        "open_target_breaches": open_findings.get(True, 0),
        "target_digests": dict(digests),
        "target_digests_notified": sum(c for status, c in digests if status != "skipped"),
        "seconds": time.perf_counter() - started,
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--customers", type=int, default=125_000)
    parser.add_argument("--scenarios", action="store_true", help="also the scenarios beyond the demo's (36 days)")
    # (each scenario with the customers of its test: enough answers for its effect to be detectable)
    args = parser.parse_args()
    out: dict = {"demo": None, "scenarios": []}
    runs = [(DEMO, args.days, args.customers)]
    runs += [(s, 36, customers) for s, (customers, _) in SCENARIOS.items()] if args.scenarios else []
    for scenario, days, customers in runs:
        home = Path(tempfile.mkdtemp(prefix="cxpulse-bench-incidents-"))
        try:
            figures = measure(scenario, days, customers, home)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        if scenario == DEMO and out["demo"] is None:
            out["demo"] = figures
        else:
            roots = [i["root"] for i in figures["incidents"]]
            figures["recognised"] = len(roots) == 1 and roots[0] in SCENARIOS[scenario][1]
            out["scenarios"].append(figures)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
