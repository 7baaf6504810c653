"""Builds the staging views and the mart tables, then runs the model tests of schema.yaml.

Incremental by day: the loader records the UTC days it touched in ops.dirty_days. A build rebuilds
those days plus the `fcr_window_h` before them (a new contact or case can turn an earlier contact
into a repeat) in the day-grained marts kpi_service_daily and kpi_experience_daily, in one
transaction with the clearing of ops.dirty_days. The other marts aggregate across days (backlog of
all cohorts, percentiles per period, monthly Pareto) from small inputs, and are rebuilt whole.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

import duckdb
import yaml

from cxpulse.config import Settings
from transforms import catalogue

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

STAGING = ("stg_contacts", "stg_cases", "stg_survey_responses")
# (model, built by day?) in dependency order.
MARTS = (
    ("kpi_service_daily", True),
    ("kpi_experience_daily", True),
    ("kpi_cases_daily", False),
    ("complaints_pareto", False),
    ("progress_dashboard", False),
)


@dataclass
class BuildResult:
    full: bool
    days: list[date] = field(default_factory=list)
    failures: list[TestFailure] = field(default_factory=list)


@dataclass(frozen=True)
class TestFailure:
    model: str
    test: str
    failing_rows: int

    def __str__(self) -> str:
        return f"{self.model}: {self.test} ({self.failing_rows} failing rows)"


class SchemaTestError(RuntimeError):
    def __init__(self, failures: list[TestFailure]) -> None:
        super().__init__("model tests failed: " + "; ".join(map(str, failures)))
        self.failures = failures


def _sql(folder: str, model: str) -> str:
    return resources.files("transforms").joinpath(folder, f"{model}.sql").read_text()


def _parameters(sql: str, settings: Settings) -> dict[str, object]:
    available = {
        "service_level_target_s": settings.service_level_target_s,
        "fcr_window_h": settings.fcr_window_h,
        "hourly_cost_eur": settings.hourly_cost_eur,
    }
    return {name: value for name, value in available.items() if f"${name}" in sql}


def _table_exists(con: duckdb.DuckDBPyConnection, model: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'marts' and table_name = ?",
        [model],
    ).fetchone()[0]
    return found > 0


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    for model in STAGING:
        con.execute(f"create or replace view staging.{model} as {_sql('staging', model)}")


def _rebuild_days(con: duckdb.DuckDBPyConnection, settings: Settings, full: bool) -> list[date]:
    if full:
        con.execute("""
            create or replace temp table rebuild_days as
            select distinct cast(occurred_at as date) as day from raw.touchpoints
            union select distinct cast(occurred_at as date) from raw.surveys
        """)
    else:
        window_days = -(-settings.fcr_window_h // 24)  # ceil: a repeat may reach back this many days
        con.execute(
            """
            create or replace temp table rebuild_days as
            select distinct cast(d.day - to_days(cast(back.k as integer)) as date) as day
            from ops.dirty_days d, range(0, $window_days + 1) back(k)
            """,
            {"window_days": window_days},
        )
    return [row[0] for row in con.execute("select day from rebuild_days order by day").fetchall()]


def build(con: duckdb.DuckDBPyConnection, settings: Settings, *, full: bool = False) -> BuildResult:
    """Rebuild what new data touched (everything when full or on the first build), then test."""
    create_views(con)
    catalogue.register(con)
    full = full or not all(_table_exists(con, model) for model, _ in MARTS)
    con.execute("begin transaction")
    try:
        days = _rebuild_days(con, settings, full)
        for model, by_day in MARTS:
            sql = _sql("marts", model)
            params = _parameters(sql, settings)
            if full or not by_day:
                con.execute(f"create or replace table marts.{model} as {sql}", params)
            else:
                delete = f"delete from marts.{model} where day in (select day from rebuild_days)"  # noqa: S608
                con.execute(delete)
                con.execute(f"insert into marts.{model} by name {sql}", params)
        # A day's FCR is final once every repeat window of that day has closed in the data.
        con.execute(
            """
            update marts.kpi_service_daily
            set fcr_final = day + to_days(1) + to_hours(cast($fcr_window_h as bigint))
                <= (select max(occurred_at) from raw.touchpoints)
            """,
            {"fcr_window_h": settings.fcr_window_h},
        )
        con.execute("delete from ops.dirty_days")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    failures = run_schema_tests(con)
    log.info(
        "built marts (%s, %d days); %d model test failures",
        "full" if full else "incremental",
        len(days),
        len(failures),
    )
    if failures:
        raise SchemaTestError(failures)
    return BuildResult(full=full, days=days, failures=failures)


# -- model tests ----------------------------------------------------------------------------------
def load_schema() -> dict:
    return yaml.safe_load(resources.files("transforms").joinpath("schema.yaml").read_text())


def _failing_rows(con: duckdb.DuckDBPyConnection, model: str, predicate: str) -> int:
    # model names and predicates come from schema.yaml, a file of this repository, never from data.
    sql = f"select count(*) from marts.{_identifier(model)} where not coalesce({predicate}, false)"  # noqa: S608
    return con.execute(sql).fetchall()[0][0]


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"schema.yaml: {name!r} is not a plain identifier")
    return name


def run_schema_tests(con: duckdb.DuckDBPyConnection) -> list[TestFailure]:
    """Run every test declared in schema.yaml; return the failures (empty when all pass)."""
    failures: list[TestFailure] = []
    for model, spec in load_schema()["models"].items():
        grain = spec.get("grain")
        if grain:
            keys = ", ".join(map(_identifier, grain))
            sql = f"select count(*) from (select {keys} from marts.{_identifier(model)} group by all having count(*) > 1)"  # noqa: S608, E501
            duplicated = con.execute(sql).fetchall()[0][0]
            if duplicated:
                failures.append(TestFailure(model, f"unique grain ({keys})", duplicated))
        for name, col_spec in (spec.get("columns") or {}).items():
            column = _identifier(name)
            tests = col_spec.get("tests") or {}
            checks = []
            if tests.get("not_null"):
                checks.append(("not_null", f"{column} is not null"))
            if "accepted_values" in tests:
                quoted = ", ".join("'" + str(v).replace("'", "''") + "'" for v in tests["accepted_values"])
                checks.append(("accepted_values", f"{column} is null or {column} in ({quoted})"))
            if "range" in tests:
                low, high = tests["range"]
                bounds = [
                    f"{column} >= {float(low)}" if low is not None else None,
                    f"{column} <= {float(high)}" if high is not None else None,
                ]
                checks.append(("range", f"{column} is null or ({' and '.join(b for b in bounds if b)})"))
            for name, predicate in checks:
                count = _failing_rows(con, model, predicate)
                if count:
                    failures.append(TestFailure(model, f"{column} {name}", count))
        for expression in spec.get("expressions") or []:
            count = _failing_rows(con, model, expression)
            if count:
                failures.append(TestFailure(model, f"expression: {expression}", count))
    return failures
