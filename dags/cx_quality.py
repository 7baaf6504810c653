"""
### cx_quality — quality gates, drift alerts

Runs when `cx_marts` updates the `cx_marts` Asset (whose build already passed the tests of
`transforms/schema.yaml`): the Great Expectations gates on raw tables and marts, drift detection
(current 7 days vs the 28 before, as of the data interval end) with its Evidently evidence, target
breaches, and alert delivery (`marts.alerts`, `cx.alerts`, webhook). A failing gate raises a
`data_quality` alert and fails the run, so `cx_publish` does not publish and BI tools keep the last
good snapshot. Emits `cx_marts_checked` on success.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from cxpulse.assets import CX_MARTS, CX_MARTS_CHECKED, warehouse_task_args


@dag(
    schedule=[CX_MARTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=warehouse_task_args(retries=1),
    tags=["cxpulse", "quality"],
    doc_md=__doc__,
)
def cx_quality():
    @task(outlets=[CX_MARTS_CHECKED])
    def check_quality_and_drift(data_interval_end=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from cxpulse.config import load_settings
        from cxpulse.pipeline import check_step
        from quality.check import QualityGateError

        try:
            result = check_step(load_settings(), as_of=data_interval_end)
        except QualityGateError as exc:
            # a failed gate is a finding about the data, not a glitch: a retry would fail the same way
            raise AirflowFailException(str(exc)) from exc
        return {
            "alerts_opened": len(result.changes.opened),
            "alerts_resolved": len(result.changes.resolved),
            "incident_notifications": len(result.transitions),
        }

    check_quality_and_drift()


cx_quality()
