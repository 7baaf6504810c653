"""
### cx_publish — snapshot and exports for BI tools

Runs when the marts passed their checks (`cx_marts_checked`): writes the marts afresh to
`published/cx.duckdb` (the marts only, in the storage version of `publish_storage_version`) and swaps
it in with an atomic rename (BI tools open it read-only and never meet a lock or a half-written
file), writes `exports/marts.<table>.parquet` and the HTML dashboard `reports/dashboard.html`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from cxpulse.assets import CX_MARTS_CHECKED, warehouse_task_args


@dag(
    schedule=[CX_MARTS_CHECKED],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=warehouse_task_args(retries=2),
    tags=["cxpulse", "publish"],
    doc_md=__doc__,
)
def cx_publish():
    @task
    def publish_snapshot_and_exports() -> dict:
        from cxpulse.config import load_settings
        from cxpulse.pipeline import publish_step

        snapshot, exports = publish_step(load_settings())
        return {"snapshot": str(snapshot), "exports": [str(p) for p in exports]}

    publish_snapshot_and_exports()


cx_publish()
