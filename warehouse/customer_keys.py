"""Customer keys: one integer per `customer_id`, kept in `ops.customers` and written beside the id into
`raw.touchpoints` and `raw.surveys` (`customer_key`).

The marts follow customers through millions of events (journeys, repeat contacts, active customers, pairs of
touches): grouping, sorting and joining them on an 8-byte integer costs less than on ids of up to 128
characters, and it is exact, where a hash of the id needs a check for collisions. The key is paid once per
event, when it is loaded, not at every build.

The loader keys the rows it loads (`key_new_customers`, then a join). `key_unkeyed_rows` keys the rows that
were written without one (a warehouse from before keys, a writer other than the loader) and runs at the
start of every build, where it costs one scan of the key column when no row lacks a key. Keys come from a
sequence: an erased customer's key (its `ops.customers` row deleted) is never given to another customer.
"""

from __future__ import annotations

import duckdb

RAW_TABLES = ("raw.touchpoints", "raw.surveys")


def key_new_customers(con: duckdb.DuckDBPyConnection, source: str) -> int:
    """Give a key to every `customer_id` of `source` (a relation named by this package's callers, never by
    data) that has none yet; returns how many customers were keyed."""
    # distinct first, then nextval: a customer seen twice in `source` gets one key
    return con.execute(f"""
        insert into ops.customers
        select customer_id, nextval('ops.customer_key_sequence')
        from (select distinct customer_id from {source}) as seen
        where not exists (select 1 from ops.customers as known where known.customer_id = seen.customer_id)
    """).fetchall()[0][0]  # noqa: S608


def key_unkeyed_rows(con: duckdb.DuckDBPyConnection) -> int:
    """Write the key of every raw row that has none (keying its customer first); returns how many rows."""
    # table names of RAW_TABLES only
    selects = [f"select customer_id from {table} where customer_key is null" for table in RAW_TABLES]  # noqa: S608
    unkeyed = "(" + " union all ".join(selects) + ")"
    if not con.execute(f"select count(*) from {unkeyed}").fetchall()[0][0]:  # noqa: S608
        return 0
    key_new_customers(con, unkeyed)
    keyed = 0
    for table in RAW_TABLES:
        keyed += con.execute(f"""
            update {table} as r set customer_key = c.customer_key
            from ops.customers as c
            where r.customer_key is null and c.customer_id = r.customer_id
        """).fetchall()[0][0]  # noqa: S608
    return keyed


def forget_customer(con: duckdb.DuckDBPyConnection, customer_id: str) -> int:
    """Delete one customer's key (an erasure): the marts keep no id, and the key then names nobody."""
    return con.execute("delete from ops.customers where customer_id = ?", [customer_id]).fetchall()[0][0]
