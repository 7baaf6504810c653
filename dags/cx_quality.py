"""
### cx_quality — model tests on the marts

Runs when `cx_marts` updates the `cx_marts` Asset: the tests declared in `transforms/schema.yaml`
(unique grain, not null, accepted values, ranges, answered + abandoned = offered). A failure fails
the run, so `cx_publish` does not publish and BI tools keep the last good snapshot. Emits
`cx_marts_checked` on success.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from cxpulse.assets import CX_MARTS, CX_MARTS_CHECKED, WAREHOUSE_POOL


@dag(
    schedule=[CX_MARTS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "cx-data",
        "retries": 1,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "pool": WAREHOUSE_POOL,
    },
    tags=["cxpulse", "quality"],
    doc_md=__doc__,
)
def cx_quality():
    @task(outlets=[CX_MARTS_CHECKED])
    def run_model_tests() -> None:
        from cxpulse.config import load_settings
        from cxpulse.pipeline import check_step

        check_step(load_settings())

    run_model_tests()


cx_quality()
