"""Time every statement of one incremental build over 1M and 10M histories: python -m bench.profile_incremental"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.marts import DAYS, START, generate
from cxpulse.config import Settings
from transforms import runner
from warehouse.db import connect


class TimedConnection:
    """Forwards to a DuckDB connection and records how long each execute() took."""

    def __init__(self, con) -> None:
        self.con = con
        self.log: list[tuple[float, str]] = []

    def execute(self, sql: str, *args):
        started = time.perf_counter()
        result = self.con.execute(sql, *args)
        self.log.append((time.perf_counter() - started, " ".join(sql.split())[:100]))
        return result

    def __getattr__(self, name: str):
        return getattr(self.con, name)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="cxpulse-profile-"))
    try:
        for history in (1_000_000, 10_000_000):
            settings = dataclasses.replace(Settings(), home=root / str(history))
            con = connect(settings.warehouse_path)
            generate(con, history, "base", START, DAYS)
            runner.build(con, settings, full=True)
            new_day = START + timedelta(days=DAYS)
            generate(con, 10_000_000 // DAYS, "day", new_day, 1)
            con.execute("delete from ops.dirty_days where day < ?", [new_day])
            timed = TimedConnection(con)
            started = time.perf_counter()
            runner.build(timed, settings)
            print(f"== {history:,} touchpoints of history: incremental build {time.perf_counter() - started:.2f} s")
            for seconds, sql in sorted(timed.log, reverse=True)[:6]:
                print(f"  {seconds:6.3f} s  {sql}")
            con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
