"""
### cx_marts — staging views and KPI marts

Runs when `cx_load` updates the `cx_raw` Asset. Rebuilds only the days touched by newly loaded
events (plus the 7 days before them for first-contact resolution windows, and their weeks and
months), so a run's cost follows new data, not history. Emits `cx_marts`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from cxpulse.assets import CX_MARTS, CX_RAW, warehouse_task_args


@dag(
    schedule=[CX_RAW],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=warehouse_task_args(retries=2),
    tags=["cxpulse", "warehouse"],
    doc_md=__doc__,
)
def cx_marts():
    @task(outlets=[CX_MARTS])
    def build_marts() -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from cxpulse.config import load_settings
        from cxpulse.pipeline import transform_step
        from transforms.runner import SchemaTestError

        try:
            result = transform_step(load_settings())
        except SchemaTestError as exc:
            # the same data fails the same tests: fail now instead of retrying with backoff
            raise AirflowFailException(str(exc)) from exc
        return {"days_rebuilt": len(result.days), "full": result.full}

    build_marts()


cx_marts()
