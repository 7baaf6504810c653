"""transforms/schema.yaml: the one description of every mart, and the model tests it declares.

Per mart: `description`, `grain` (tested unique), `columns` (meaning, unit, `tests`: not_null,
accepted_values, range [min, max]; `gate: true` puts the column's range into the quality gates as
well), `expressions` (must hold on every row), `gate_checks` (derived columns the quality gates
check: `{sql, equals: <column>}` or `{sql, between: [min, max]}`), `rebuild` (how an incremental
build rebuilds it: `scope`, the temp table listing the slices to rebuild, and `key`, the mart columns
that identify a slice) and optionally `depends_on` (models it needs built first, beyond the ones its
SQL references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import yaml

from transforms.sql import identifier, package_files


def load_schema() -> dict[str, Any]:
    """transforms/schema.yaml: every mart, its grain, columns (meaning, unit, tests) and row tests."""
    data: dict[str, Any] = yaml.safe_load(package_files().joinpath("schema.yaml").read_text())
    return data


def gate_bounds(spec: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """The columns of a mart entry marked `gate: true`, with the bounds of their `range` test."""
    bounds = {}
    for column, col in (spec.get("columns") or {}).items():
        if col.get("gate"):
            low, high = (col.get("tests") or {}).get("range", [None, None])
            bounds[column] = (low, high)
    return bounds


def gate_checks(spec: dict[str, Any]) -> dict[str, tuple[str, tuple[str, Any]]]:
    """Derived columns of a mart entry: name -> (SQL over the mart, ('equals', column) or ('between', bounds))."""
    checks = {}
    for name, check in (spec.get("gate_checks") or {}).items():
        rule = ("equals", check["equals"]) if "equals" in check else ("between", tuple(check["between"]))
        checks[name] = (check["sql"], rule)
    return checks


# -- model tests ----------------------------------------------------------------------------------
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


def _failing_rows(con: duckdb.DuckDBPyConnection, model: str, predicates: list[str]) -> list[int]:
    """Per predicate, the rows of the mart where it does not hold: one scan of the mart for them all."""
    if not predicates:
        return []
    counts = ", ".join(f"count(*) filter (where not coalesce({p}, false))" for p in predicates)
    # model names and predicates come from schema.yaml, a file of this repository, never from data
    sql = f"select {counts} from marts.{identifier(model)}"  # noqa: S608
    return [int(n) for n in con.execute(sql).fetchall()[0]]


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
        table = f"marts.{identifier(model)}"
        grain = spec.get("grain")
        if grain:
            keys = ", ".join(map(identifier, grain))
            # keys: grain columns of schema.yaml, checked identifiers
            sql = f"select count(*) from (select {keys} from {table} group by all having count(*) > 1)"  # noqa: S608
            duplicated = int(con.execute(sql).fetchall()[0][0])
            if duplicated:
                failures.append(TestFailure(model, f"unique grain ({keys})", duplicated))
        checks = [
            (f"{identifier(name)} {test}", predicate)
            for name, col_spec in (spec.get("columns") or {}).items()
            for test, predicate in _column_checks(identifier(name), col_spec.get("tests") or {})
        ]
        checks += [(f"expression: {expression}", expression) for expression in spec.get("expressions") or []]
        counts = _failing_rows(con, model, [predicate for _, predicate in checks])
        failures += [TestFailure(model, test, count) for (test, _), count in zip(checks, counts, strict=True) if count]
    return failures
