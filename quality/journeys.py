"""Journey ruptures as findings: the steps that marts.journey_steps flags `rupture` in the latest ISO week
become rows of marts.alerts with rule `journey_rupture`, so that incidents group them (one incident per
journey) and the sinks notify them like any other finding.

The statistics are the mart's (transforms/marts/journey_steps.sql: minimum n on both sides, two-proportion
z-test, Benjamini-Hochberg across the steps of the period, minimum effect; thresholds in
transforms/journeys.yaml); this module words them. One alert per journey step, on the measure that rose:
the failure rate when failures rose (they explain the drop-off), the drop-off rate otherwise. It stays
open while the step is flagged in the latest week, and resolves when it is not.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from quality import wording
from quality.alerts import Candidate
from transforms.journeys import load_map
from warehouse.db import table_exists

RULE = "journey_rupture"
_MEASURES = {  # English, French (subject and verb agree)
    "failure_rate": ("failures", "le taux d'échec"),
    "drop_off_rate": ("drop-off", "le taux d'abandon"),
}


def rupture_candidates(con: duckdb.DuckDBPyConnection, as_of: datetime, zone: str = "UTC") -> list[Candidate]:
    """One candidate alert per journey step flagged `rupture` in the latest week started by as-of."""
    if not table_exists(con, "marts", "journey_steps"):
        return []
    rows = con.execute(
        """
        with latest as (
            select max(period_start) as period_start from marts.journey_steps
            -- weeks of the reporting calendar: the date of the as-of instant in the reporting zone
            where period_type = 'week' and period_start <= cast(timezone($zone, cast($as_of as timestamptz)) as date)
        )
        select journey, step, label_en, label_fr, period_start, staging.day_start(period_start), rupture_measures,
               failure_rate, baseline_failure_rate, drop_off_rate, baseline_drop_off_rate, entered, baseline_entered,
               rupture_q
        from marts.journey_steps
        where period_type = 'week' and rupture and period_start = (select period_start from latest)
        order by journey, step_order, step
        """,
        {"as_of": as_of, "zone": zone},
    ).fetchall()
    jmap = load_map()
    weeks = jmap.settings["baseline_weeks"]
    min_effect = jmap.settings["rupture_min_effect"]
    out = []
    for journey, step, label_en, label_fr, start, start_at, measures, *values in rows:
        fail_now, fail_before, drop_now, drop_before, entered, baseline_entered, q = values
        kpi = "failure_rate" if "failure" in measures.split(",") else "drop_off_rate"
        now, before = (fail_now, fail_before) if kpi == "failure_rate" else (drop_now, drop_before)
        what_en, what_fr = _MEASURES[kpi]
        journey_en, journey_fr = jmap.journey_label(journey), jmap.journey_label(journey, french=True)
        q_text = f"{q:.2g}"
        out.append(
            Candidate(
                rule=RULE,
                severity="critical" if now - before >= 2 * min_effect else "warning",
                kpi=kpi,
                scope=f"touchpoint:{step}",
                window_start=start_at,
                window_end=as_of,
                baseline_value=before,
                current_value=now,
                n_current=entered,
                n_baseline=baseline_entered,
                p_value=q,
                message=(
                    f"Journey rupture: {what_en} at step {label_en} of the {journey_en} journey rose from "
                    f"{wording.value(before, 'ratio')} to {wording.value(now, 'ratio')} on "
                    f"{wording.count(entered)} journeys in the week starting {start:%Y-%m-%d}, against "
                    f"{wording.count(baseline_entered)} in the {weeks} weeks before (q = {q_text})."
                ),
                message_fr=(
                    f"Rupture de parcours : {what_fr} à l'étape {label_fr} du parcours {journey_fr} passe de "
                    f"{wording.value(before, 'ratio', True)} à {wording.value(now, 'ratio', True)} sur "
                    f"{wording.count(entered, True)} parcours la semaine du {start:%d/%m/%Y}, contre "
                    f"{wording.count(baseline_entered, True)} sur les {weeks} semaines précédentes (q = {q_text})."
                ),
                dedupe_key=f"{RULE}|{journey}|{step}|{kpi}",
            )
        )
    return out
