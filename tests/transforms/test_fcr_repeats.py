"""kpi_service_daily's repeat window: each event's next event of the same customer (by customer_key) and
reason. Another customer's contact repeats nothing, and events of a customer and reason at the same instant
take an exact path (the next event after one of them is no later than it)."""

from __future__ import annotations

import duckdb
import pytest

from cxpulse.config import Settings
from tests.builders import built_warehouse
from tests.transforms.test_marts import contact, load_fixture
from transforms.build import _parameters
from transforms.sql import bound, model_sql


def load(con: duckdb.DuckDBPyConnection) -> None:
    load_fixture(con)
    # 2026-03-23: X and Y for billing, Y an hour after X (another customer's contact repeats nothing
    # of X's); at Y's instant, one contact of X and one of Y without a reason (nothing of the same
    # customer and reason follows them); X for billing again 2 h after its first (a repeat of it).
    contact(con, "2026-03-23T08:00:00Z", "X", "phone", "billing_hotline", "answered", 5, "billing", 60, 0, 0)
    contact(con, "2026-03-23T09:00:00Z", "Y", "phone", "billing_hotline", "answered", 5, "billing", 60, 0, 0)
    contact(con, "2026-03-23T09:00:00Z", "X", "phone", "billing_hotline", "answered", 5, None, 60, 0, 0)  # type: ignore[arg-type]
    contact(con, "2026-03-23T09:00:00Z", "Y", "phone", "billing_hotline", "answered", 5, None, 60, 0, 0)  # type: ignore[arg-type]
    contact(con, "2026-03-23T10:00:00Z", "X", "phone", "billing_hotline", "answered", 5, "billing", 60, 0, 0)


def load_ties(con: duckdb.DuckDBPyConnection) -> None:
    load_fixture(con)
    # 2026-03-25: T twice for billing at 08:00, nothing after (no repeat); U twice for billing at 08:00
    # and again at 09:00 (both 08:00 contacts repeated)
    for customer in ("T", "T", "U", "U"):
        contact(con, "2026-03-25T08:00:00Z", customer, "phone", "billing_hotline", "answered", 5, "billing", 60, 0, 0)
    contact(con, "2026-03-25T09:00:00Z", "U", "phone", "billing_hotline", "answered", 5, "billing", 60, 0, 0)


@pytest.fixture
def con(settings: Settings) -> duckdb.DuckDBPyConnection:
    yield from built_warehouse(settings, load)


@pytest.fixture
def tied(settings: Settings) -> duckdb.DuckDBPyConnection:
    yield from built_warehouse(settings, load_ties)


def service_rows(con: duckdb.DuckDBPyConnection, settings: Settings, sql: str) -> list[tuple]:
    """The rows the mart SQL `sql` computes for every day (the full build's rebuild_service_days)."""
    rows = con.execute(f"select * exclude (fcr_final) from ({sql}) order by all", bound(sql, _parameters(settings)))
    return rows.fetchall()


def test_repeats_are_counted_by_customer(settings, con) -> None:
    # the 23rd by hand: 5 answered contacts; X 08:00 billing is repeated by X 10:00 billing (2 h later),
    # Y 09:00 billing by nothing of Y (X 10:00 is another customer's), the NULL-reason contacts by
    # nothing later: 1 repeat
    day = con.execute(
        "select answered, repeated from marts.kpi_service_daily where day = date '2026-03-23' and channel = 'all'"
    ).fetchall()
    assert day == [(5, 1)]
    sql = model_sql("marts", "kpi_service_daily")
    stored = con.execute("select * exclude (fcr_final) from marts.kpi_service_daily order by all").fetchall()
    assert service_rows(con, settings, sql) == stored


def test_a_contact_at_the_instant_of_another_is_repeated_only_by_a_later_event(settings, tied) -> None:
    day = "select answered, repeated from ({}) where day = date '2026-03-25' and channel = 'all'"
    stored = tied.execute(day.format("select * from marts.kpi_service_daily")).fetchall()
    assert stored == [(5, 2)]  # U's two 08:00 contacts, by U 09:00
    # without the exact path for ties, one of T's 08:00 contacts would count the other as its repeat
    sql = model_sql("marts", "kpi_service_daily")
    untied = sql.replace("where next_at = occurred_at", "where false")
    assert untied != sql
    assert tied.execute(day.format(untied), bound(untied, _parameters(settings))).fetchall() == [(5, 3)]
