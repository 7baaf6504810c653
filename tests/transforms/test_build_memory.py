"""The marts build runs under DuckDB's memory limit `build_memory_mb` (so it spills rather than growing
past it: the memory figure itself is measured by bench.marts) without preserving insertion order, and
leaves the connection unbounded and ordered."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import duckdb
import pytest

from cxpulse.config import ConfigError, Settings, load_settings
from transforms import build as build_module
from transforms.runner import build
from warehouse.db import connect


def _limit(con: duckdb.DuckDBPyConnection) -> str:
    return con.execute("select current_setting('memory_limit')").fetchall()[0][0]


def _ordered(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("select current_setting('preserve_insertion_order')").fetchall()[0][0]


def test_the_build_runs_under_its_memory_limit_unordered_and_resets_both(settings: Settings, monkeypatch) -> None:
    with duckdb.connect() as other:  # how DuckDB shows 1000 MB, and its default
        other.execute("set memory_limit = '1000MB'")
        bounded = _limit(other)
        other.execute("reset memory_limit")
        default = _limit(other)
    seen = []
    drivers_step = build_module.PYTHON_STEPS["drivers"]

    def watching(con: duckdb.DuckDBPyConnection, parameters: dict) -> Callable[[], None]:
        seen.append((_limit(con), _ordered(con)))
        return drivers_step(con, parameters)

    monkeypatch.setitem(build_module.PYTHON_STEPS, "drivers", watching)
    con = connect(settings.warehouse_path)
    build(con, dataclasses.replace(settings, build_memory_mb=1000), full=True)
    assert seen == [(bounded, False)] and bounded != default
    assert _limit(con) == default and _ordered(con) is True


def test_a_memory_limit_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="'build_memory_mb' must be > 0"):
        load_settings({"CXPULSE_BUILD_MEMORY_MB": "0"})
