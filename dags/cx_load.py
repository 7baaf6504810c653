"""
### cx_load — landing files to raw tables

Every 5 minutes, loads the Parquet files that the consumers made durable under `landing/` and
`quarantine/` into `raw.touchpoints`, `raw.surveys` and `ops.deadletters`. A file ledger and id
dedupe make it idempotent: rerunning any interval loads nothing twice. Emits the `cx_raw` Asset,
which triggers `cx_marts`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from cxpulse.assets import CX_RAW, warehouse_task_args


@dag(
    schedule="*/5 * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=warehouse_task_args(retries=3),
    tags=["cxpulse", "warehouse"],
    doc_md=__doc__,
)
def cx_load():
    @task(outlets=[CX_RAW])
    def load_landing_files() -> dict:
        from cxpulse.config import load_settings
        from cxpulse.pipeline import load_step

        result = load_step(load_settings())
        return {
            "files": result.files,
            "rows_loaded": result.rows_loaded,
            "duplicates_dropped": result.duplicates_dropped,
            "dead_letters": result.dead_letters,
        }

    load_landing_files()


cx_load()
