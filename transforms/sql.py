"""Reading and running the SQL files of transforms/: models, rebuild scopes, macros.

Every SQL text the transforms run lives in a `.sql` file of this package: `staging/` and `marts/`
(one model each), `rebuild/` (the incremental machinery: which days, cases and periods a build
rebuilds). A file may hold several statements separated by `;` at the end of a line; they run in
order. (`--` starts a comment to the end of the line: the SQL of these files holds no `--` in a
string.) Values come in as bound parameters (`$name`), never spliced into the text; the only
identifiers interpolated elsewhere are model, column and scope-table names from these files or
schema.yaml, checked by `identifier()`.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import duckdb

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_PARAMETER = re.compile(r"\$([a-z_][a-z0-9_]*)\b")


def identifier(name: str) -> str:
    """`name` when it is a plain lower-case SQL identifier; ValueError otherwise."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain lower-case identifier")
    return name


def package_files() -> Traversable:
    """The transforms package folder (its SQL and YAML files)."""
    return resources.files("transforms")


def sql_file(folder: str, name: str) -> str:
    """The text of transforms/<folder>/<name>.sql."""
    return package_files().joinpath(folder, f"{identifier(name)}.sql").read_text()


def model_sql(folder: str, model: str) -> str:
    """The SQL of transforms/<folder>/<model>.sql (a model: one select, its CTEs ending in final)."""
    return sql_file(folder, model)


def model_names(folder: str) -> list[str]:
    """The models of transforms/<folder>/, by file name, sorted (the build order is derived elsewhere)."""
    return sorted(
        entry.name.removesuffix(".sql")
        for entry in package_files().joinpath(folder).iterdir()
        if entry.name.endswith(".sql") and _IDENTIFIER.match(entry.name.removesuffix(".sql"))
    )


def strip_comments(sql: str) -> str:
    """The SQL without its `--` comments (a name in a comment is neither a parameter nor a reference)."""
    return re.sub(r"--[^\n]*", "", sql)


def statements(sql: str) -> list[str]:
    """The statements of a file, without their comments: split at each `;` that ends a line."""
    return [s for s in (part.strip() for part in re.split(r";[ \t]*(?:\n|$)", strip_comments(sql))) if s]


def bound(sql: str, available: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters of `available` that `sql` uses (DuckDB refuses unused named parameters)."""
    used = set(_PARAMETER.findall(strip_comments(sql)))
    missing = used - set(available)
    if missing:
        raise KeyError(f"SQL parameter(s) {', '.join(sorted(missing))} have no value")
    return {name: available[name] for name in used} or None


def run_file(con: duckdb.DuckDBPyConnection, folder: str, name: str, parameters: dict[str, Any]) -> None:
    """Run every statement of transforms/<folder>/<name>.sql with the parameters it uses."""
    for statement in statements(sql_file(folder, name)):
        con.execute(statement, bound(statement, parameters))
