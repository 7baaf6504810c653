"""Time every statement of one incremental build over 1M and 10M histories, and with --explain show what
each statement read: python -m bench.profile_incremental [--explain] [--shuffled] [--histories 1000000 ...]

Same data as bench.marts (history in time order unless --shuffled, then one new day). With --explain,
every statement that writes (insert, delete, update, create ... as) runs under EXPLAIN ANALYZE and its
table scans are listed: rows scanned and row groups read out of the table's row groups, with the
filters DuckDB pushed into the scan. A range on occurred_at that prunes reads a few row groups of
raw.touchpoints; a scan that reads all of them costs what the history costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.marts import DAYS, START, generate
from cxpulse.config import Settings
from transforms import runner
from warehouse.db import connect

_WRITES = re.compile(r"^\s*(insert|delete|update|create\s+or\s+replace\s+(temp\s+)?table\s+\S+\s+as)\b", re.I)


def _flat(sql: str) -> str:
    return " ".join(re.sub(r"--[^\n]*", "", sql).split())


def table_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The TABLE_SCAN operators of an EXPLAIN (ANALYZE, FORMAT JSON) plan."""
    scans: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("type") == "TABLE_SCAN":
            info = node.get("extra_info", {})
            scans.append(
                {
                    "table": info.get("Table") or info.get("Function"),
                    "rows_scanned": node.get("rows_scanned"),
                    "row_groups": f"{node.get('row_groups_scanned')}/{node.get('total_row_groups_to_scan')}",
                    "filters": info.get("Filters"),
                    "dynamic_filters": info.get("Dynamic Filters"),
                }
            )
        for child in node.get("children", []):
            walk(child)

    for node in plan.get("operator", []):
        walk(node)
    return scans


class TimedConnection:
    """Forwards to a DuckDB connection and records how long each execute() took (and, when explaining,
    the table scans of each statement that writes)."""

    def __init__(self, con, *, explain: bool = False) -> None:
        self.con = con
        self.explain = explain
        self.log: list[tuple[float, str, list[dict[str, Any]]]] = []

    def execute(self, sql: str, *args):
        started = time.perf_counter()
        scans: list[dict[str, Any]] = []
        if self.explain and _WRITES.match(sql):
            plan = self.con.execute(f"explain (analyze, format json) {sql}", *args).fetchall()[0][1]
            scans = table_scans(json.loads(plan))
            result = self.con
        else:
            result = self.con.execute(sql, *args)
        self.log.append((time.perf_counter() - started, _flat(sql)[:100], scans))
        return result

    def __getattr__(self, name: str):
        return getattr(self.con, name)


def _print_scans(log: list[tuple[float, str, list[dict[str, Any]]]]) -> None:
    for seconds, sql, scans in log:
        big = [s for s in scans if str(s["table"]).startswith(("cx.raw.", "cx.staging.", "cx.marts."))]
        if not big:
            continue
        print(f"  {seconds:6.3f} s  {sql}")
        for scan in big:
            filters = " AND ".join(
                str(f) for f in (scan["filters"], scan["dynamic_filters"]) if f and not isinstance(f, list)
            )
            rows = f"{scan['rows_scanned']:,} rows, row groups {scan['row_groups']}"
            print(f"           {scan['table']}: {rows}  {filters[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--histories", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--explain", action="store_true", help="list the table scans of every statement that writes")
    parser.add_argument("--shuffled", action="store_true", help="store the history in random time order")
    parser.add_argument("--top", type=int, default=8, help="how many of the slowest statements to print")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cxpulse-profile-"))
    try:
        for history in args.histories:
            settings = dataclasses.replace(Settings(), home=root / str(history))
            con = connect(settings.warehouse_path)
            generate(con, history, "base", START, DAYS, shuffled=args.shuffled)
            runner.build(con, settings, full=True)
            new_day = START + timedelta(days=DAYS)
            generate(con, 10_000_000 // DAYS, "day", new_day, 1, shuffled=args.shuffled)
            con.execute("delete from ops.dirty_days where day < ?", [new_day])
            con.execute("checkpoint")  # as the load step's connection does when it closes
            timed = TimedConnection(con, explain=args.explain)
            started = time.perf_counter()
            runner.build(timed, settings)
            elapsed = time.perf_counter() - started
            slowest = sorted(timed.log, key=lambda entry: -entry[0])
            print(
                f"== {history:,} touchpoints of history: incremental build {elapsed:.2f} s ({len(slowest)} statements)"
            )
            for seconds, sql, _ in slowest[: args.top]:
                print(f"  {seconds:6.3f} s  {sql}")
            print(f"  the other statements: {sum(seconds for seconds, _, _ in slowest[args.top :]):.3f} s")
            if args.explain:
                print("  table scans (statements that write; under EXPLAIN ANALYZE the timings include profiling):")
                _print_scans(timed.log)
            con.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
