"""Airflow Assets that chain the batch DAGs:
cx_landing -> cx_load -> cx_raw -> cx_marts -> cx_marts_checked -> cx_publish.

URIs name the warehouse layer they stand for; the DAGs import them from here so that each is
defined once.
"""

from datetime import timedelta
from pathlib import Path

from airflow.sdk import Asset, AssetWatcher

# the pool of one slot every warehouse task runs in (defined where Airflow is not imported)
from cxpulse.airflow_local import WAREHOUSE_POOL

CX_RAW = Asset(name="cx_raw", uri="cxpulse://warehouse/raw")
CX_MARTS = Asset(name="cx_marts", uri="cxpulse://warehouse/marts")
CX_MARTS_CHECKED = Asset(name="cx_marts_checked", uri="cxpulse://warehouse/marts/checked")


def landing_asset(landing_dir: Path, poke_interval: float = 2.0) -> Asset:
    """The consumers' landing files, watched by the triggerer: a new file updates this Asset, which
    starts `cx_load` (event-driven scheduling; cxpulse.triggers.LandingFilesTrigger)."""
    from cxpulse.triggers import LandingFilesTrigger

    trigger = LandingFilesTrigger(directory=str(landing_dir), poke_interval=poke_interval)
    return Asset(
        name="cx_landing",
        uri="cxpulse://landing",
        watchers=[AssetWatcher(name="cx_landing_files", trigger=trigger)],
    )


def warehouse_task_args(retries: int) -> dict:
    """default_args of every cxpulse DAG: one owner, retries with exponential backoff, the writer pool."""
    return {
        "owner": "cx-data",
        "retries": retries,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "pool": WAREHOUSE_POOL,
    }
