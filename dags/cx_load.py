"""
### cx_load — landing files to raw tables

Runs as soon as a consumer makes a new landing file durable (the `cx_landing` Asset, watched by the
triggerer: event-driven scheduling), and every hour as a safety net. Loads the Parquet files under
`landing/` and `quarantine/` into `raw.touchpoints`, `raw.surveys` and `ops.deadletters`. A file
ledger and id dedupe make it idempotent: rerunning any interval loads nothing twice. Emits the
`cx_raw` Asset, which triggers `cx_marts`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from cxpulse.assets import CX_RAW, landing_asset, warehouse_task_args
from cxpulse.config import load_settings

# New landing files start a run within seconds; the hourly tick catches anything a stopped
# triggerer missed.
SCHEDULE = AssetOrTimeSchedule(
    timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
    assets=[landing_asset(load_settings().landing_dir)],
)


@dag(
    schedule=SCHEDULE,
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
