"""Builds the staging views and tables and the mart tables, then runs the model tests of schema.yaml.

Incremental by day. The loader records the UTC days it touched in `ops.dirty_days`; a build turns
them into the local days of the reporting calendar they overlap (transforms/calendar.py), derives
from them what each model must rebuild, deletes those slices and inserts them again, and clears
`ops.dirty_days`, all in one transaction (a failed build leaves the models and the dirty days as they
were, so the next run redoes the work). The SQL of each step is a file of transforms/rebuild/:

- The verbatim analysis (transforms/verbatims/store.py), first: the answers not yet analysed by the
  current analyser go into `staging.verbatim_analysis`, and their UTC days into ops.dirty_days.
- `changed_days`: the local days to rebuild (every day with an event when full).
- `staging.stg_cases` (a table, one row per case with its lifecycle and the span of its events):
  `case_scope` picks the cases with an event on a changed day, and the stored cases whose span covers
  a changed day (an erasure deletes events: those cases are read again, and dropped when no event is
  left). Each is recomputed from all its events, read between its first and last event (temp table
  rebuild_case_ids); `changed_cases` writes only the rows that differ (temp table changed_case_ids).
  The marts read cases through these rows only, so they rebuild what the changed cases touch.
- `mart_scopes`: one temp table per rebuild scope (the days, months or periods of each mart; the
  comments there say why each holds what it holds); `mart_state`: what kpi_cases_daily keeps from
  the rows it replaces (backlog anchors, counts of unchanged days).
- Each mart (the `.sql` files of transforms/marts/, in an order derived from what they read: see
  transforms/dag.py) deletes the slices of its scope (`rebuild` in its schema.yaml entry) and
  inserts them again; `fcr_final` is refreshed on every row. A mart of PYTHON_STEPS first runs its
  Python step, which fills the temp tables its SQL reads for the slices of its scope (marts.drivers:
  the relative weights of transforms/drivers.py), in the same transaction; the step computes in a
  thread while the next marts that do not read it are built.

In an incremental build every read of the raw tables is bounded by a sargable range on `occurred_at`
(from the temp scope tables: DuckDB turns it into a row-group filter), so with raw rows stored
roughly in time order (as landing files arrive) it reads the row groups of the days it rebuilds, and
the marts read cases from `staging.stg_cases`, not from all case events.

`full=True`, a missing mart or one whose columns differ from schema.yaml, a missing
`staging.stg_cases` table, or marts built in another reporting time zone rebuild everything with the
same SQL (every day and case counts as dirty). Model tests run before the commit: a build never
commits marts that break schema.yaml, and raises SchemaTestError.

SQL safety: the files use bound parameters (`$service_level_target_s`, `$fcr_window_h`,
`$hourly_cost_eur`, ...) and read the rebuild scope from temp tables; the only identifiers
interpolated into SQL are mart, column, model and scope-table names from this package's files,
checked by `transforms.sql.identifier`; the zone name is validated by transforms/calendar.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb

from cxpulse.config import Settings
from transforms import calendar, catalogue, dimensions, drivers, journeys
from transforms.dag import build_order, references
from transforms.schema import SchemaTestError, load_schema, run_schema_tests
from transforms.sql import bound, identifier, model_names, model_sql, run_file, statements
from transforms.verbatims import store as verbatims
from warehouse import customer_keys
from warehouse.db import transaction

log = logging.getLogger(__name__)

# Staging models kept as tables, incrementally, by the steps of transforms/rebuild/ (case_scope,
# changed_cases); every other file of transforms/staging/ is a view.
STAGING_TABLES: tuple[str, ...] = ("stg_cases",)

# Marts whose SQL reads temp tables that a Python step fills first, for the slices of the mart's scope.
# The step gets the build's parameters, runs its SQL, starts its computation off the connection and
# returns the function that waits for it and writes the temp tables: the marts after it that do not read
# it are built meanwhile (two cores: the step's Python thread and DuckDB's share them), and the mart once
# they are or once a mart that reads it comes.
PYTHON_STEPS: dict[str, Callable[[duckdb.DuckDBPyConnection, dict[str, Any]], Callable[[], None]]] = {
    "drivers": drivers.estimate,
}


@dataclass(frozen=True)
class MartSpec:
    """A mart, the temp table listing the slices to rebuild, the mart columns that key a slice, and the
    marts it reads or depends on."""

    name: str
    scope_table: str
    key: tuple[str, ...]
    after: frozenset[str] = frozenset()


def staging_views() -> list[str]:
    """The staging views, each after the staging models it reads."""
    names = [m for m in model_names("staging") if m not in STAGING_TABLES]
    return build_order(names, {m: references(model_sql("staging", m), "staging") for m in names})


def mart_specs() -> list[MartSpec]:
    """The marts (the files of transforms/marts/), each after the marts it reads or `depends_on`."""
    models = load_schema()["models"]
    names = model_names("marts")
    undocumented = [m for m in names if m not in models or "rebuild" not in models[m]]
    if undocumented:
        raise ValueError(
            f"transforms/marts/{undocumented[0]}.sql has no schema.yaml entry with a `rebuild` key "
            "(see CONTRIBUTING.md, 'Add a mart')"
        )
    depends = {m: references(model_sql("marts", m), "marts") | set(models[m].get("depends_on") or ()) for m in names}
    specs = []
    for name in build_order([m for m in models if m in names], depends):
        rebuild = models[name]["rebuild"]
        key = tuple(map(identifier, rebuild["key"]))
        specs.append(MartSpec(name, identifier(rebuild["scope"]), key, frozenset(depends[name])))
    return specs


MART_SPECS: tuple[MartSpec, ...] = tuple(mart_specs())
MARTS: tuple[str, ...] = tuple(spec.name for spec in MART_SPECS)
MART_BY_NAME: dict[str, MartSpec] = {spec.name: spec for spec in MART_SPECS}


@dataclass(frozen=True)
class BuildResult:
    """What a build rebuilt.

    `days`: the union of the days rebuilt in the day-grained marts; `scope`: per mart, the slices
    rebuilt (days, months, or (period_type, period_start) pairs); `rows`: rows per mart afterwards.
    """

    full: bool
    days: list[date] = field(default_factory=list)
    scope: dict[str, list[Any]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # per step (the build's steps, each mart, `<mart>.python` for its Python step, `schema_tests`):
    # wall seconds and process CPU seconds (all threads), for the benchmark and the logs
    step_seconds: dict[str, float] = field(default_factory=dict)
    step_cpu_seconds: dict[str, float] = field(default_factory=dict)


def _parameters(settings: Settings) -> dict[str, Any]:
    """The values the SQL files may bind (each statement gets those it names)."""
    return {
        "service_level_target_s": settings.service_level_target_s,
        "fcr_window_h": settings.fcr_window_h,
        "hourly_cost_eur": settings.hourly_cost_eur,
        # how many days back a repeat window can reach, at most (a bound for mart_scopes)
        "window_days": -(-settings.fcr_window_h // 24),
        # the windows and thresholds of transforms/journeys.yaml ($max_span_h, $switch_window_h, ...)
        **journeys.parameters(),
    }


def create_views(con: duckdb.DuckDBPyConnection, zone: str = "UTC") -> None:
    """(Re)create the macros of transforms/macros/ (the calendar's for `zone`) and the staging views from
    transforms/staging/*.sql.

    A staging model that is a table (STAGING_TABLES) and was a view in an older warehouse loses its
    view here; the next build creates the table (a full build).
    """
    calendar.create_macros(con, zone)
    run_file(con, "macros", "scopes", {})
    verbatims.create_table(con)  # read by staging.stg_verbatim_topics
    for model in staging_views():
        con.execute(f"create or replace view staging.{identifier(model)} as {model_sql('staging', model)}")
    for model in STAGING_TABLES:
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = 'staging' and table_name = ?",
            [model],
        ).fetchall()
        if kind == [("VIEW",)]:
            con.execute(f"drop view staging.{identifier(model)}")


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows]


def _model_columns(con: duckdb.DuckDBPyConnection, folder: str, model: str) -> list[str]:
    """The columns a model file produces (its scope temp tables must exist, empty is enough)."""
    return [r[0] for r in con.execute(f"describe {model_sql(folder, model)}").fetchall()]


def _needs_full(con: duckdb.DuckDBPyConnection, zone: str) -> str | None:
    """Why incremental is impossible (a mart missing or with other columns than schema.yaml, a staging
    table missing or with other columns than its model, another reporting zone), or None."""
    models = load_schema()["models"]
    for model in MARTS:
        columns = _columns(con, "marts", model)
        if not columns:
            return f"marts.{model} does not exist"
        if columns != list(models[model]["columns"]):
            return f"marts.{model} has other columns than schema.yaml"
    run_file(con, "rebuild", "case_ids", {})
    for model in STAGING_TABLES:
        columns = _columns(con, "staging", model)
        if not columns:
            return f"staging.{model} does not exist"
        if columns != _model_columns(con, "staging", model):
            return f"staging.{model} has other columns than transforms/staging/{model}.sql"
    return calendar.zone_change(con, zone)


def _build_stg_cases(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    """Recompute the cases of temp table rebuild_case_ids (all of them when full) and write those that
    changed (temp table changed_case_ids) to staging.stg_cases."""
    run_file(con, "rebuild", "case_ids", {})
    run_file(con, "rebuild", "case_scope_full" if full else "case_scope", {})
    sql = model_sql("staging", "stg_cases")
    if full:
        # in time order, as incremental builds append the cases they change: zone maps on the event
        # times skip the row groups of old cases
        ordered = f"select * from ({sql}) order by first_event_at"  # noqa: S608 - a model file of this repository
        con.execute(f"create or replace table staging.stg_cases as {ordered}")
        run_file(con, "rebuild", "changed_cases_full", {})
        return
    con.execute(f"create or replace temp table rebuilt_cases as {sql}")
    run_file(con, "rebuild", "changed_cases", {})


def _scope_values(con: duckdb.DuckDBPyConnection, spec: MartSpec) -> list[Any]:
    """The slices of a mart to rebuild, sorted: days, months, or (period_type, period_start) pairs."""
    keys = ", ".join(spec.key)
    sql = f"select {keys} from {spec.scope_table} order by {keys}"  # noqa: S608 - checked names of schema.yaml
    return [r[0] if len(r) == 1 else tuple(r) for r in con.execute(sql).fetchall()]


def _build_mart(con: duckdb.DuckDBPyConnection, spec: MartSpec, parameters: dict[str, Any], full: bool) -> None:
    sql = model_sql("marts", spec.name)
    table = f"marts.{identifier(spec.name)}"
    if full:
        con.execute(f"create or replace table {table} as {sql}", bound(sql, parameters))
        return
    keys = ", ".join(spec.key)
    # table, keys and scope table are checked names of schema.yaml, never data
    con.execute(f"delete from {table} where ({keys}) in (select ({keys}) from {spec.scope_table})")  # noqa: S608
    con.execute(f"insert into {table} by name {sql}", bound(sql, parameters))


def _refresh_fcr_final(con: duckdb.DuckDBPyConnection, parameters: dict[str, Any]) -> None:
    """A day's FCR is final once every repeat window of the day has closed in the data."""
    latest = None
    for sql in statements(model_sql("rebuild", "latest_touchpoint")):
        latest = con.execute(sql).fetchall()[0][0]
        if latest is not None:
            break
    run_file(con, "rebuild", "fcr_final", {**parameters, "latest": latest})


def build(con: duckdb.DuckDBPyConnection, settings: Settings, *, full: bool = False) -> BuildResult:
    """Rebuild what new data touched (everything when `full` or when a mart is missing), then test.

    Raises SchemaTestError (after rolling back) when the rebuilt marts break a test of schema.yaml.
    """
    started = time.perf_counter()
    zone = settings.reporting_timezone
    create_views(con, zone)
    catalogue.register(con)
    dimensions.register(con)
    journeys.register(con)
    reason = "requested" if full else _needs_full(con, zone)
    full = reason is not None
    parameters = _parameters(settings)
    clock = _StepClock()
    with _build_settings(con, settings.build_memory_mb), transaction(con):
        # rows written without a customer key (not by the loader): keyed before any mart reads them
        with clock("customer_keys"):
            customer_keys.key_unkeyed_rows(con)
        # per-answer verbatim analysis first: the days of the answers it analyses become dirty days
        with clock("verbatims"):
            verbatims.analyse_new(con, full=full)
        with clock("scopes"):
            run_file(con, "rebuild", "changed_days_full" if full else "changed_days", parameters)
        with clock("stg_cases"):
            _build_stg_cases(con, full)
        with clock("scopes"):
            run_file(con, "rebuild", "mart_scopes", parameters)
            run_file(con, "rebuild", "mart_state_full" if full else "mart_state", parameters)
            scope = {spec.name: _scope_values(con, spec) for spec in MART_SPECS}
        waiting: dict[str, Callable[[], None]] = {}  # marts whose Python step is computing

        def build_waiting(name: str) -> None:
            with clock(f"{name}.python"):
                waiting.pop(name)()
            with clock(name):
                _build_mart(con, MART_BY_NAME[name], parameters, full)

        for spec in MART_SPECS:
            if full or scope[spec.name]:
                for name in sorted(spec.after & waiting.keys()):
                    build_waiting(name)
                if spec.name in PYTHON_STEPS:
                    with clock(f"{spec.name}.python"):
                        waiting[spec.name] = PYTHON_STEPS[spec.name](con, parameters)
                    continue
                with clock(spec.name):
                    _build_mart(con, spec, parameters, full)
        for name in list(waiting):
            build_waiting(name)
        rows = {spec.name: _count(con, spec.name) for spec in MART_SPECS}
        with clock("fcr_final"):
            _refresh_fcr_final(con, parameters)
            calendar.record_zone(con, zone)
            con.execute("delete from ops.dirty_days")
        with clock("schema_tests"):
            failures = run_schema_tests(con)
        if failures:
            raise SchemaTestError(failures)
    days = sorted(set().union(*(scope[s.name] for s in MART_SPECS if s.key == ("day",))))
    result = BuildResult(
        full=full,
        days=days,
        scope=scope,
        rows=rows,
        seconds=time.perf_counter() - started,
        step_seconds=clock.wall,
        step_cpu_seconds=clock.cpu,
    )
    log.info(
        "built marts (%s%s) in %.2f s; slices rebuilt: %s",
        "full" if full else "incremental",
        f", {reason}" if full else "",
        result.seconds,
        ", ".join(f"{name} {len(keys)}" for name, keys in scope.items()),
    )
    return result


@contextmanager
def _build_settings(con: duckdb.DuckDBPyConnection, megabytes: int) -> Iterator[None]:
    """DuckDB set for the build for the block, then back to its defaults (cxpulse sets them nowhere
    else), so that other work on the connection is not bounded and reads rows in insertion order:

    - `memory_limit` = `megabytes` (DuckDB spills beyond it);
    - `preserve_insertion_order` off: a mart's rows are written in whatever order DuckDB's threads
      produce them, not in the order of the query's input (a table has no order; a statement with
      `order by`, as stg_cases', keeps it). Measured on whole 10M builds: -4 % CPU (BENCHMARKS.md)."""
    con.execute(f"set memory_limit = '{int(megabytes)}MB'")  # an int from the validated config
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute("reset memory_limit")
        con.execute("reset preserve_insertion_order")


class _StepClock:
    """Wall and CPU seconds per named step of a build (a name used twice adds up)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu


def _count(con: duckdb.DuckDBPyConnection, model: str) -> int:
    sql = f"select count(*) from marts.{identifier(model)}"  # noqa: S608 - a checked mart name
    return int(con.execute(sql).fetchall()[0][0])
