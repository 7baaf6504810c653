"""Customer keys (warehouse/customer_keys.py): one integer per customer_id, written by the loader beside the id,
given by the build to rows written without one, never given again after an erasure."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from warehouse import customer_keys, loader
from warehouse.db import connect


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    connection = connect(settings.warehouse_path)
    yield connection
    connection.close()


def contact(event_id: str, customer: str) -> bytes:
    return json.dumps({
        "event_type": "contact", "event_id": event_id, "occurred_at": "2026-03-10T10:00:00Z", "customer_id": customer,
        "channel": "phone", "touchpoint": "q", "contact_id": f"k{event_id}", "outcome": "abandoned", "wait_s": 3,
        "reason": "r",
    }).encode()  # fmt: skip


def answer(response_id: str, customer: str) -> bytes:
    return json.dumps({
        "response_id": response_id, "occurred_at": "2026-03-10T11:00:00Z", "customer_id": customer,
        "channel": "phone", "touchpoint": "q", "survey": "post_contact", "nps": 9,
    }).encode()  # fmt: skip


def keys_by_customer(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, set[int]]:
    keys: dict[str, set[int]] = {}
    for customer, key in con.execute(f"select customer_id, customer_key from {table}").fetchall():  # noqa: S608
        keys.setdefault(customer, set()).add(key)
    return keys


def test_the_loader_writes_one_key_per_customer_into_both_raw_tables(settings: Settings, land, con) -> None:
    # "a" twice in one file and again in a later file and in the surveys; "b" once
    land(settings, "touchpoints", [contact("1", "a"), contact("2", "b"), contact("3", "a")])
    land(settings, "surveys", [answer("r1", "a")])
    loader.load(con, settings)
    land(settings, "touchpoints", [contact("4", "a"), contact("5", "c")], 3)
    loader.load(con, settings)

    dictionary = dict(con.execute("select customer_id, customer_key from ops.customers").fetchall())
    assert sorted(dictionary) == ["a", "b", "c"]
    assert len(set(dictionary.values())) == 3
    touchpoints = keys_by_customer(con, "raw.touchpoints")
    assert touchpoints == {"a": {dictionary["a"]}, "b": {dictionary["b"]}, "c": {dictionary["c"]}}
    assert keys_by_customer(con, "raw.surveys") == {"a": {dictionary["a"]}}


def test_rows_written_without_a_key_get_their_customers_key(settings: Settings, land, con) -> None:
    land(settings, "touchpoints", [contact("1", "a")])
    loader.load(con, settings)
    key_of_a = con.execute("select customer_key from ops.customers where customer_id = 'a'").fetchall()[0][0]
    # a writer other than the loader (a backfill, a warehouse from before keys): no key
    con.execute(
        "insert into raw.touchpoints by name select * exclude (event_id, customer_id, customer_key), "
        "'2' as event_id, 'a' as customer_id from raw.touchpoints"
    )
    con.execute(
        "insert into raw.surveys by name select 'r1' as response_id, occurred_at, 'new' as customer_id, channel, "
        "touchpoint, 'post_contact' as survey, '{}' as payload, kafka_topic, 0 as kafka_partition, "
        "0 as kafka_offset, loaded_at from raw.touchpoints limit 1"
    )

    assert customer_keys.key_unkeyed_rows(con) == 2
    assert keys_by_customer(con, "raw.touchpoints") == {"a": {key_of_a}}
    key_of_new = con.execute("select customer_key from ops.customers where customer_id = 'new'").fetchall()[0][0]
    assert keys_by_customer(con, "raw.surveys") == {"new": {key_of_new}} and key_of_new != key_of_a
    assert customer_keys.key_unkeyed_rows(con) == 0  # nothing left to key: a no-op


def test_a_warehouse_from_before_keys_gets_the_column_and_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("create schema raw")
    old.execute("create table raw.touchpoints (event_id varchar, customer_id varchar)")
    old.execute("create table raw.surveys (response_id varchar, customer_id varchar)")
    old.execute("insert into raw.touchpoints values ('1', 'a'), ('2', 'b'), ('3', 'a')")
    old.execute("insert into raw.surveys values ('r', 'b')")
    old.close()

    con = connect(path)  # the DDL adds customer_key to the existing tables
    assert customer_keys.key_unkeyed_rows(con) == 4
    pairs = con.execute(
        "select customer_id, count(distinct customer_key), count(*) filter (where customer_key is null) "
        "from (select customer_id, customer_key from raw.touchpoints union all "
        "select customer_id, customer_key from raw.surveys) group by all order by all"
    ).fetchall()
    assert pairs == [("a", 1, 0), ("b", 1, 0)]
    con.close()


def test_an_erased_customers_key_is_never_given_again(settings: Settings, land, con) -> None:
    land(settings, "touchpoints", [contact("1", "a"), contact("2", "b")])
    loader.load(con, settings)
    erased = con.execute("select max(customer_key) from ops.customers").fetchall()[0][0]
    last_customer = con.execute("select customer_id from ops.customers where customer_key = ?", [erased]).fetchall()
    assert customer_keys.forget_customer(con, last_customer[0][0]) == 1
    con.execute("delete from raw.touchpoints where customer_id = ?", [last_customer[0][0]])

    land(settings, "touchpoints", [contact("3", "c")], 2)
    loader.load(con, settings)
    key_of_c = con.execute("select customer_key from ops.customers where customer_id = 'c'").fetchall()[0][0]
    assert key_of_c > erased
