"""Builds the staging views and tables and the mart tables, then runs the model tests of schema.yaml.

Incremental by day. The loader records the UTC days it touched in `ops.dirty_days`; a build derives
from them what each model must rebuild, deletes those slices and inserts them again, and clears
`ops.dirty_days`, all in one transaction (a failed build leaves the models and the dirty days as
they were, so the next run redoes the work):

- `staging.stg_cases` (a table, one row per case with its lifecycle and the span of its events):
  the cases with an event on a dirty day, and the stored cases whose span covers a dirty day (an
  erasure deletes events: those cases are read again, and dropped when no event is left). Each is
  recomputed from all its events, read between its first and last event (temp table
  rebuild_case_ids); only the rows that differ are written (temp table changed_case_ids). The marts
  read cases through these rows only, so they rebuild what the changed cases touch.
- `kpi_service_daily`: the dirty days and the `ceil(fcr_window_h / 24)` days before them (a new
  contact or case can turn an earlier contact into a repeat).
- `kpi_experience_daily`: the dirty days.
- `kpi_cases_daily` (cohorts by day of `case_opened`): the dirty days, the opening days (before and
  after) of every changed case (a late `case_resolved` changes its cohort), and every cohort day
  from the earliest dirty day within the span of a changed case (where its events changed) on (the
  backlog at the end of a day counts all cohorts: a change of state on day D changes the backlog of
  D and of every later day). The running backlog restarts from the last kept row before the first
  rebuilt day, per channel (temp table backlog_anchors), so only cases with events since then are
  read.
- `complaints_pareto`: the months of the opening days of those cases.
- `progress_dashboard`: the ISO weeks and months of every day rebuilt above, and the period after
  each (its `previous_value` and `delta` follow).

In an incremental build every read of the raw tables is bounded by a sargable range on `occurred_at`
(from the temp scope tables: DuckDB turns it into a row-group filter), so with raw rows stored
roughly in time order (as landing files arrive) it reads the row groups of the days it rebuilds, and
the marts read cases from `staging.stg_cases`, not from all case events.

`full=True`, a missing mart or one whose columns differ from schema.yaml, or a missing
`staging.stg_cases` table, rebuilds everything with the same SQL (every day and case counts as
dirty). `fcr_final` depends on the latest event overall and is refreshed on every row at each build.
Model tests run before the commit: a build never commits marts that break schema.yaml, and raises
SchemaTestError.

SQL safety: the model files use bound parameters (`$service_level_target_s`, `$fcr_window_h`,
`$hourly_cost_eur`) and read the rebuild scope from temp tables; the only identifiers interpolated
into SQL are mart, column and model names from this module or schema.yaml, checked against a plain
identifier pattern.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

import duckdb
import yaml

from cxpulse.config import Settings
from transforms import catalogue

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

# Staging views, in dependency order; then the staging tables the runner keeps incrementally.
STAGING: tuple[str, ...] = ("stg_contacts", "stg_case_events", "stg_survey_responses")
STAGING_TABLES: tuple[str, ...] = ("stg_cases",)


@dataclass(frozen=True)
class MartSpec:
    """A mart, the temp table listing the slices to rebuild, and the mart columns that key a slice."""

    name: str
    scope_table: str
    key: tuple[str, ...]


# Marts in dependency order (progress_dashboard reads the two daily marts built before it).
MART_SPECS: tuple[MartSpec, ...] = (
    MartSpec("kpi_service_daily", "rebuild_service_days", ("day",)),
    MartSpec("kpi_experience_daily", "rebuild_experience_days", ("day",)),
    MartSpec("kpi_cases_daily", "rebuild_case_days", ("day",)),
    MartSpec("complaints_pareto", "rebuild_months", ("month",)),
    MartSpec("progress_dashboard", "rebuild_periods", ("period_type", "period_start")),
)
MARTS: tuple[str, ...] = tuple(spec.name for spec in MART_SPECS)

# The cases to (re)build in staging.stg_cases, each with the range holding all its events: its stored
# span (stored_*, NULL for a case new to the table) widened by its events on a changed day.
_CASE_IDS_DDL = """
    create or replace temp table rebuild_case_ids (
        case_id varchar, first_event_at timestamptz, last_event_at timestamptz,
        stored_first_event_at timestamptz, stored_last_event_at timestamptz, stored_day date)
"""

# Which cases to rebuild, from temp table changed_days: those with an event on a changed day, and the
# stored ones whose span covers a changed day (some of their events may have been deleted).
_CASE_SCOPE_SQL: tuple[str, ...] = (
    # case events on a changed day (sargable range first: zone maps skip the other row groups)
    """
    create or replace temp table touched_case_events as
    select case_id, day, occurred_at
    from staging.stg_case_events
    where occurred_at >= (select min(day) from changed_days)
        and occurred_at < (select max(day) from changed_days) + 1
        and day in (select day from changed_days)
        and case_id is not null
    """,
    # the stored rows of the cases whose span covers a changed day (a filter on two timestamps first)
    """
    create or replace temp table stored_cases as
    select *
    from staging.stg_cases as s
    where s.last_event_at >= (select min(day) from changed_days)
        and s.first_event_at < (select max(day) from changed_days) + 1
        and exists (
            select 1 from changed_days as c
            where c.day >= cast(s.first_event_at as date) and c.day <= cast(s.last_event_at as date)
        )
    """,
    # each case's range: its stored span (from its stored row, or from staging.stg_cases for a case
    # whose span covers no changed day) widened by its events on changed days
    """
    insert into rebuild_case_ids
    with new_spans as (
        select case_id, min(occurred_at) as first_event_at, max(occurred_at) as last_event_at
        from touched_case_events
        group by case_id
    ),

    stored_spans as (
        select case_id, first_event_at, last_event_at, day
        from stored_cases
        union all
        select case_id, first_event_at, last_event_at, day
        from staging.stg_cases
        where case_id in (select case_id from new_spans)
            and case_id not in (select case_id from stored_cases)
    ),

    final as (
        select
            case_id,
            least(new_spans.first_event_at, stored_spans.first_event_at) as first_event_at,
            greatest(new_spans.last_event_at, stored_spans.last_event_at) as last_event_at,
            stored_spans.first_event_at as stored_first_event_at,
            stored_spans.last_event_at as stored_last_event_at,
            stored_spans.day as stored_day
        from new_spans
        full outer join stored_spans using (case_id)
    )

    select * from final
    """,
)
# The cases whose row changes (a case left without events has no rebuilt row). The marts read cases
# through these rows only: a case whose row is the same changes no mart. A case without a row in
# stored_cases changes: it is new, or its events on changed days are new (they lie outside its stored
# span), which moves first_event_at or last_event_at.
_CHANGED_CASES_SQL = """
    create or replace temp table changed_case_ids as
    select r.*
    from rebuild_case_ids as r
    left join rebuilt_cases as n on n.case_id = r.case_id
    left join stored_cases as s on s.case_id = r.case_id
    where s.case_id is null or n is distinct from s
"""
# A full build: every case, over all its events; every case changes.
_FULL_CASE_SCOPE_SQL: tuple[str, ...] = (
    "create or replace temp table touched_case_events (case_id varchar, day date, occurred_at timestamptz)",
    """
    insert into rebuild_case_ids
    select case_id, min(occurred_at), max(occurred_at), null, null, null
    from staging.stg_case_events
    where case_id is not null
    group by case_id
    """,
)
_FULL_CHANGED_CASES_SQL = "create or replace temp table changed_case_ids as select * from rebuild_case_ids"

# The rebuild scope of the marts, from temp tables changed_days (the dirty days, or every day when
# full), changed_case_ids and rebuilt_cases (their new rows), once staging.stg_cases holds them.
_SCOPE_SQL: tuple[str, ...] = (
    """
    create or replace temp table rebuild_service_days as
    select distinct cast(changed_days.day - cast(back.k as integer) as date) as day
    from changed_days, range(0, $window_days + 1) as back(k)
    """,
    "create or replace temp table rebuild_experience_days as select day from changed_days",
    # the cohort days of the changed cases, before (a case can leave a cohort) and after
    """
    create or replace temp table touched_case_days as
    select stored_day as day from changed_case_ids where stored_day is not null
    union
    select day
    from rebuilt_cases
    where day is not null and case_id in (select case_id from changed_case_ids)
    """,
    # the backlog changes from the first changed day within the span (stored or new) of a changed
    # case on: an event of it was added or deleted there
    """
    create or replace temp table rebuild_case_days as
    with backlog_start as (
        select min(c.day) as day
        from changed_case_ids as r
        asof inner join changed_days as c on c.day >= cast(r.first_event_at as date)
        where c.day <= cast(r.last_event_at as date)
    )

    select day from changed_days
    union
    select day from touched_case_days
    union
    select day
    from staging.stg_cases
    where opened_at >= (select day from backlog_start)
    """,
    """
    create or replace temp table rebuild_months as
    select distinct cast(date_trunc('month', day) as date) as month from touched_case_days
    """,
    """
    create or replace temp table rebuild_periods as
    with days as (
        select day from rebuild_service_days
        union select day from rebuild_experience_days
        union select day from touched_case_days
    ),
    periods as (
        select distinct 'week' as period_type, cast(date_trunc('week', day) as date) as period_start from days
        union
        select distinct 'month', cast(date_trunc('month', day) as date) from days
    )
    select period_type, period_start from periods
    union
    select period_type, cast(case period_type
            when 'week' then period_start + interval 7 day
            else period_start + interval 1 month
        end as date)
    from periods
    """,
)


@dataclass(frozen=True)
class TestFailure:
    """One failed model test: the mart, the test (as declared in schema.yaml) and how many rows fail."""

    __test__ = False  # not a pytest test class

    model: str
    test: str
    failing_rows: int

    def __str__(self) -> str:
        return f"{self.model}: {self.test} ({self.failing_rows} failing rows)"


class SchemaTestError(RuntimeError):
    """Model tests of schema.yaml failed; `failures` lists them."""

    def __init__(self, failures: list[TestFailure]) -> None:
        super().__init__("model tests failed: " + "; ".join(map(str, failures)))
        self.failures = failures


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


# -- model files ------------------------------------------------------------------------------------
def model_sql(folder: str, model: str) -> str:
    """The SQL of transforms/<folder>/<model>.sql."""
    return resources.files("transforms").joinpath(folder, f"{_identifier(model)}.sql").read_text()


def _parameters(sql: str, settings: Settings) -> dict[str, Any]:
    """The bound parameters a model uses, from the settings (never spliced into the SQL text)."""
    available: dict[str, Any] = {
        "service_level_target_s": settings.service_level_target_s,
        "fcr_window_h": settings.fcr_window_h,
        "hourly_cost_eur": settings.hourly_cost_eur,
    }
    code = re.sub(r"--[^\n]*", "", sql)  # a parameter named in a comment only is not bound
    return {name: value for name, value in available.items() if re.search(rf"\${name}\b", code)}


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case identifier")
    return name


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the staging views from transforms/staging/*.sql.

    A staging model that is a table (STAGING_TABLES) and was a view in an older warehouse loses its
    view here; the next build creates the table (a full build).
    """
    for model in STAGING:
        con.execute(f"create or replace view staging.{_identifier(model)} as {model_sql('staging', model)}")
    for model in STAGING_TABLES:
        kind = con.execute(
            "select table_type from information_schema.tables where table_schema = 'staging' and table_name = ?",
            [model],
        ).fetchall()
        if kind == [("VIEW",)]:
            con.execute(f"drop view staging.{_identifier(model)}")


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


def _needs_full(con: duckdb.DuckDBPyConnection) -> str | None:
    """Why incremental is impossible (a mart missing or with other columns than schema.yaml, a staging
    table missing or with other columns than its model), or None."""
    models = load_schema()["models"]
    for model in MARTS:
        columns = _columns(con, "marts", model)
        if not columns:
            return f"marts.{model} does not exist"
        if columns != list(models[model]["columns"]):
            return f"marts.{model} has other columns than schema.yaml"
    con.execute(_CASE_IDS_DDL)
    for model in STAGING_TABLES:
        columns = _columns(con, "staging", model)
        if not columns:
            return f"staging.{model} does not exist"
        if columns != _model_columns(con, "staging", model):
            return f"staging.{model} has other columns than transforms/staging/{model}.sql"
    return None


def _fill_changed_days(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    if full:
        con.execute("""
            create or replace temp table changed_days as
            select distinct cast(occurred_at as date) as day from raw.touchpoints
            union
            select distinct cast(occurred_at as date) from raw.surveys
        """)
    else:
        con.execute("create or replace temp table changed_days as select day from ops.dirty_days")


def _build_stg_cases(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    """Recompute the cases of temp table rebuild_case_ids (all of them when full) and write those that
    changed (temp table changed_case_ids) to staging.stg_cases."""
    con.execute(_CASE_IDS_DDL)
    for sql in _FULL_CASE_SCOPE_SQL if full else _CASE_SCOPE_SQL:
        con.execute(sql)
    sql = model_sql("staging", "stg_cases")
    if full:
        # in time order, as incremental builds append the cases they change: zone maps on the event
        # times skip the row groups of old cases
        ordered = f"select * from ({sql}) order by first_event_at"  # noqa: S608 - a model file of this repository
        con.execute(f"create or replace table staging.stg_cases as {ordered}")
        # the scope below reads the opening days of the changed cases from rebuilt_cases
        con.execute("create or replace temp table rebuilt_cases as select case_id, day from staging.stg_cases")
        con.execute(_FULL_CHANGED_CASES_SQL)
        return
    con.execute(f"create or replace temp table rebuilt_cases as {sql}")
    con.execute(_CHANGED_CASES_SQL)
    # a stored row of a changed case starts at its stored_first_event_at: a sargable bound first
    con.execute("""
        delete from staging.stg_cases
        where first_event_at >= (select min(stored_first_event_at) from changed_case_ids)
            and case_id in (select case_id from changed_case_ids)
    """)
    con.execute(
        "insert into staging.stg_cases by name "
        "select * from rebuilt_cases where case_id in (select case_id from changed_case_ids)"
    )


def _fill_scope(con: duckdb.DuckDBPyConnection, settings: Settings, full: bool) -> None:
    window_days = -(-settings.fcr_window_h // 24)  # ceil: how many days back a repeat window reaches
    for sql in _SCOPE_SQL:
        con.execute(sql, {"window_days": window_days} if "$window_days" in sql else None)
    # Where the running backlog restarts: per channel, the last kept cohort day before the first
    # rebuilt one (its backlog is final: new events change states from the first rebuilt day on).
    con.execute(_ANCHORS_SQL if not full else _NO_ANCHORS_SQL)
    # The active customers of the rebuilt cohort days that did not change (they count the touchpoints
    # of their day only): kept, not counted again from raw.touchpoints.
    con.execute(_KEPT_ACTIVE_SQL if not full else _NO_KEPT_ACTIVE_SQL)


_ANCHORS_SQL = """
    create or replace temp table backlog_anchors as
    select channel, max(day) as anchor_day, arg_max(backlog_end_of_day, day) as anchor_backlog
    from marts.kpi_cases_daily
    where day < (select min(day) from rebuild_case_days)
    group by channel
"""
_NO_ANCHORS_SQL = """
    create or replace temp table backlog_anchors
        (channel varchar, anchor_day date, anchor_backlog bigint)
"""
_KEPT_ACTIVE_SQL = """
    create or replace temp table kept_active_customers as
    select day, channel, active_customers
    from marts.kpi_cases_daily
    where day in (select day from rebuild_case_days) and day not in (select day from changed_days)
"""
_NO_KEPT_ACTIVE_SQL = """
    create or replace temp table kept_active_customers
        (day date, channel varchar, active_customers bigint)
"""


def _scope_values(con: duckdb.DuckDBPyConnection, spec: MartSpec) -> list[Any]:
    """The slices of a mart to rebuild, sorted: days, months, or (period_type, period_start) pairs."""
    keys = ", ".join(_identifier(k) for k in spec.key)
    sql = f"select {keys} from {_identifier(spec.scope_table)} order by {keys}"  # noqa: S608 - MART_SPECS constants
    return [r[0] if len(r) == 1 else tuple(r) for r in con.execute(sql).fetchall()]


def _build_mart(con: duckdb.DuckDBPyConnection, spec: MartSpec, settings: Settings, full: bool) -> None:
    sql = model_sql("marts", spec.name)
    params = _parameters(sql, settings)
    table = f"marts.{_identifier(spec.name)}"
    if full:
        con.execute(f"create or replace table {table} as {sql}", params)
        return
    keys = ", ".join(_identifier(k) for k in spec.key)
    # table, keys and scope table are the constants of MART_SPECS above, never data
    delete = f"delete from {table} where ({keys}) in (select ({keys}) from {_identifier(spec.scope_table)})"  # noqa: S608
    con.execute(delete)
    con.execute(f"insert into {table} by name {sql}", params)


def _latest_touchpoint(con: duckdb.DuckDBPyConnection) -> Any:
    """max(occurred_at) of raw.touchpoints. The rows from the last changed day on hold it when there
    are any (a sargable range: the last row groups only); otherwise the whole table is read."""
    latest = con.execute(
        "select max(occurred_at) from raw.touchpoints where occurred_at >= (select max(day) from changed_days)"
    ).fetchall()[0][0]
    if latest is None:
        latest = con.execute("select max(occurred_at) from raw.touchpoints").fetchall()[0][0]
    return latest


def _refresh_fcr_final(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """A day's FCR is final once every repeat window of the day has closed in the data."""
    con.execute(
        """
        update marts.kpi_service_daily
        set fcr_final = coalesce(day + interval 1 day + to_hours(cast($fcr_window_h as bigint)) <= $latest, false)
        where fcr_final is distinct from
            coalesce(day + interval 1 day + to_hours(cast($fcr_window_h as bigint)) <= $latest, false)
        """,
        {"fcr_window_h": settings.fcr_window_h, "latest": _latest_touchpoint(con)},
    )


def build(con: duckdb.DuckDBPyConnection, settings: Settings, *, full: bool = False) -> BuildResult:
    """Rebuild what new data touched (everything when `full` or when a mart is missing), then test.

    Raises SchemaTestError (after rolling back) when the rebuilt marts break a test of schema.yaml.
    """
    started = time.perf_counter()
    create_views(con)
    catalogue.register(con)
    reason = "requested" if full else _needs_full(con)
    full = reason is not None
    con.execute("begin transaction")
    try:
        _fill_changed_days(con, full)
        _build_stg_cases(con, full)
        _fill_scope(con, settings, full)
        scope = {spec.name: _scope_values(con, spec) for spec in MART_SPECS}
        rows = {}
        for spec in MART_SPECS:
            if full or scope[spec.name]:
                _build_mart(con, spec, settings, full)
            rows[spec.name] = _count(con, spec.name)
        _refresh_fcr_final(con, settings)
        con.execute("delete from ops.dirty_days")
        failures = run_schema_tests(con)
        if failures:
            raise SchemaTestError(failures)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    days = sorted(set().union(*(scope[s.name] for s in MART_SPECS if s.key == ("day",))))
    result = BuildResult(full=full, days=days, scope=scope, rows=rows, seconds=time.perf_counter() - started)
    log.info(
        "built marts (%s%s) in %.2f s; slices rebuilt: %s",
        "full" if full else "incremental",
        f", {reason}" if full else "",
        result.seconds,
        ", ".join(f"{name} {len(keys)}" for name, keys in scope.items()),
    )
    return result


def _count(con: duckdb.DuckDBPyConnection, model: str) -> int:
    sql = f"select count(*) from marts.{_identifier(model)}"  # noqa: S608 - model from MART_SPECS
    return int(con.execute(sql).fetchall()[0][0])


# -- model tests ----------------------------------------------------------------------------------
def load_schema() -> dict[str, Any]:
    """transforms/schema.yaml: every mart, its grain, columns (meaning, unit, tests) and row tests."""
    data: dict[str, Any] = yaml.safe_load(resources.files("transforms").joinpath("schema.yaml").read_text())
    return data


def _failing_rows(con: duckdb.DuckDBPyConnection, model: str, predicate: str) -> int:
    # model names and predicates come from schema.yaml, a file of this repository, never from data
    sql = f"select count(*) from marts.{_identifier(model)} where not coalesce({predicate}, false)"  # noqa: S608
    return int(con.execute(sql).fetchall()[0][0])


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _column_checks(column: str, tests: dict[str, Any]) -> list[tuple[str, str]]:
    checks = []
    if tests.get("not_null"):
        checks.append(("not_null", f"{column} is not null"))
    if "accepted_values" in tests:
        values = ", ".join(_literal(v) for v in tests["accepted_values"])
        checks.append(("accepted_values", f"{column} is null or {column} in ({values})"))
    if "range" in tests:
        low, high = tests["range"]
        bounds = [
            f"{column} >= {float(low)!r}" if low is not None else None,
            f"{column} <= {float(high)!r}" if high is not None else None,
        ]
        checks.append(("range", f"{column} is null or ({' and '.join(b for b in bounds if b)})"))
    return checks


def run_schema_tests(con: duckdb.DuckDBPyConnection) -> list[TestFailure]:
    """Run every test declared in schema.yaml on the marts; return the failures (empty when all pass).

    Tests: unique grain, per column not_null / accepted_values / range, and row expressions.
    """
    failures: list[TestFailure] = []
    for model, spec in load_schema()["models"].items():
        table = f"marts.{_identifier(model)}"
        grain = spec.get("grain")
        if grain:
            keys = ", ".join(map(_identifier, grain))
            # keys: grain columns of schema.yaml, checked identifiers
            sql = f"select count(*) from (select {keys} from {table} group by all having count(*) > 1)"  # noqa: S608
            duplicated = int(con.execute(sql).fetchall()[0][0])
            if duplicated:
                failures.append(TestFailure(model, f"unique grain ({keys})", duplicated))
        for name, col_spec in (spec.get("columns") or {}).items():
            column = _identifier(name)
            for test, predicate in _column_checks(column, col_spec.get("tests") or {}):
                count = _failing_rows(con, model, predicate)
                if count:
                    failures.append(TestFailure(model, f"{column} {test}", count))
        for expression in spec.get("expressions") or []:
            count = _failing_rows(con, model, expression)
            if count:
                failures.append(TestFailure(model, f"expression: {expression}", count))
    return failures


def check_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Run the model tests and raise SchemaTestError when any fails."""
    failures = run_schema_tests(con)
    if failures:
        raise SchemaTestError(failures)
