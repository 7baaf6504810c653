"""The headline tiles show the last complete ISO week, with the week to date beside it marked partial,
and a trend line each; "now" is the latest day of the daily marts, not the clock."""

from __future__ import annotations

from datetime import date

import duckdb

from warehouse.dashboard import collect, render

PD = """create table marts.progress_dashboard (period_type varchar, period_start date, kpi varchar, scope varchar,
    label_en varchar, label_fr varchar, value double, target double, status varchar, trend varchar, n bigint,
    unit varchar)"""


def warehouse(weeks: dict[date, tuple[float, int]], latest: date) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.kpi_cases_daily (day date)")
    con.execute("insert into marts.kpi_cases_daily values (?)", [latest])
    con.execute(PD)
    for start, (value, n) in weeks.items():
        con.execute(
            "insert into marts.progress_dashboard values ('week', ?, 'nps', 'all', 'Net Promoter Score', "
            "'Net Promoter Score', ?, 30, 'red', null, ?, 'points')",
            [start, value, n],
        )
    return con


def test_last_complete_week_with_the_week_to_date_beside_it() -> None:
    # data through Wednesday 2026-03-18: the week of the 16th is not over (3 days: n 868)
    con = warehouse(
        {date(2026, 3, 2): (10.0, 4300), date(2026, 3, 9): (12.5, 4310), date(2026, 3, 16): (20.0, 868)},
        date(2026, 3, 18),
    )
    data = collect(con)
    assert (data["week"], data["week_partial"], data["week_to_date"]) == (date(2026, 3, 9), False, date(2026, 3, 16))
    (tile,) = data["tiles"]
    assert (tile.value, tile.n, tile.to_date_value, tile.to_date_n) == ("+12.5", 4310, "+20.0", 868)
    assert tile.spark == (10.0, 12.5)  # complete weeks only, oldest first
    html = render(con)
    assert 'class="to-date" data-period="2026-03-16"' in html and "(partial, from 2026-03-16)" in html
    assert "Last complete week: starting 2026-03-09" in html and 'class="spark"' in html


def test_before_any_complete_week_the_tiles_say_they_are_partial() -> None:
    con = warehouse({date(2026, 3, 16): (20.0, 868)}, date(2026, 3, 16))
    data = collect(con)
    assert (data["week"], data["week_partial"], data["week_to_date"]) == (date(2026, 3, 16), True, None)
    assert data["tiles"][0].to_date_value is None
    html = render(con)
    assert "Week to date from 2026-03-16 (partial)" in html and 'class="partial-mark"' in html
