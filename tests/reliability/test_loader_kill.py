"""The loader SIGKILLed mid-transaction: the ledger and the raw tables always agree, a rerun completes.

`cxpulse load` runs as a real process over 4,000 landing files (eight transactions of 500) and is
killed as soon as it logs that it begins its first or second transaction of the run (an observable
event, so the kills land inside transactions on a fast or a slow machine alike); after every kill
the warehouse is opened (DuckDB replays its WAL) and checked: the rows in raw.touchpoints are
exactly those of the files in the ledger, nothing twice.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys

import duckdb
import pytest

from cxpulse.config import Settings, to_env
from tests.sample import generate
from warehouse.loader import FILES_PER_TRANSACTION

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FILES = 4_000


def _consistent(settings: Settings) -> tuple[int, int]:
    """(files in the ledger, rows loaded); asserts the ledger and the table say the same."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        # killed after DuckDB created the file and before the DDL committed: an empty database,
        # which the next connection completes (the DDL is idempotent)
        schemas = {row[0] for row in con.execute("select schema_name from information_schema.schemata").fetchall()}
        if "ops" not in schemas:
            assert "raw" not in schemas
            return 0, 0
        files, ledger_rows = con.execute(
            "select count(*), coalesce(sum(rows_loaded), 0) from ops.loaded_files where kind = 'landing'"
        ).fetchall()[0]
        rows, distinct_ids = con.execute("select count(*), count(distinct event_id) from raw.touchpoints").fetchall()[0]
        # every loaded row comes from a file of the ledger: same offsets, no more, no fewer
        orphans = con.execute(
            """
            select count(*) from raw.touchpoints t
            where not exists (
                select 1 from ops.loaded_files f
                where f.topic = t.kafka_topic and f."partition" = t.kafka_partition
                  and t.kafka_offset between f.first_offset and f.last_offset)"""
        ).fetchall()[0][0]
    finally:
        con.close()
    assert rows == ledger_rows == distinct_ids and orphans == 0, (files, ledger_rows, rows, distinct_ids, orphans)
    return files, rows


def test_loader_killed_mid_transaction_keeps_ledger_and_tables_consistent(settings: Settings, land) -> None:
    settings = dataclasses.replace(settings, kafka_bootstrap="localhost:1")
    messages = generate(customers=4_000, seed=21, with_malformed=False, duplicate_rate=0).touchpoints
    per_file = len(messages) // FILES
    for i in range(FILES):
        land(settings, "touchpoints", messages[i * per_file : (i + 1) * per_file], i * per_file)
    expected_rows = FILES * per_file
    env = {**os.environ, **to_env(settings), "CXPULSE_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    rng = random.Random(5)
    kills, states = 0, []
    committed = 0  # transactions the ledger must hold at least, from the log lines read so far
    while kills < 8:
        # Kill on the n-th "loading ... in one transaction" line of this run: n - 1 transactions of the
        # run are committed and the n-th has begun. The first run kills on the second line so that a
        # partial state (some transactions committed, not all) is always seen, whatever the machine's speed.
        kill_at = 2 if kills == 0 else rng.choice([1, 2])
        loader = subprocess.Popen(
            [sys.executable, "-m", "cxpulse.cli", "load"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        begun = 0
        for line in loader.stderr:  # ends when the loader exits: it finished before the n-th transaction
            if "in one transaction" in line:
                begun += 1
                if begun == kill_at:
                    loader.send_signal(signal.SIGKILL)
                    break
        loader.wait()
        loader.stderr.close()
        if begun < kill_at:
            assert loader.returncode == 0, "the loader failed before it could be killed"
            break  # it had fewer transactions left than the kill needed
        kills += 1
        committed += kill_at - 1
        files, rows = _consistent(settings)
        # the begun transaction is lost, unless it committed in the instant before the signal landed
        assert committed * FILES_PER_TRANSACTION <= files <= (committed + 1) * FILES_PER_TRANSACTION, (committed, files)
        assert rows <= expected_rows
        committed = files // FILES_PER_TRANSACTION
        states.append(files)
    print("ledger files after each kill:", states)
    assert kills >= 2, states  # kills landed while the loader was working...
    assert any(0 < files < FILES for files in states), states  # ...some between two of its transactions
    done = subprocess.run([sys.executable, "-m", "cxpulse.cli", "load"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _consistent(settings) == (FILES, expected_rows)
