"""Connections to the live warehouse (single writer) and to published snapshots (read-only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from cxpulse.files import make_private, make_private_dirs


def connect(path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file with the session settings every query relies on.

    TimeZone is pinned to UTC because `day` in every mart is the UTC date of `occurred_at`, and a
    TIMESTAMPTZ cast to DATE follows the session time zone.
    """
    if not read_only:
        make_private_dirs(path.parent)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:  # raw events, payloads, verbatims: owner-only whatever the umask
        make_private(path)
        make_private(path.with_name(path.name + ".wal"))
    con.execute("set TimeZone = 'UTC'")
    if not read_only:
        con.execute(resources.files("warehouse").joinpath("ddl.sql").read_text())
    return con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One transaction: committed when the block ends, rolled back when anything escapes it (an
    interrupt too), so a step leaves all of its writes or none of them."""
    con.execute("begin transaction")
    try:
        yield con
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether schema.table exists (a warehouse or snapshot written by an older cxpulse may lack it)."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )
