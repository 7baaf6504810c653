"""The reporting calendar: days, ISO weeks and months of the marts in config reporting_timezone.

Europe/Paris is UTC+1 in winter and UTC+2 in summer. In 2026 the clocks go forward on Sunday 29
March at 01:00 UTC (that Paris day lasts 23 hours: 28 March 23:00 UTC to 29 March 22:00 UTC) and
back on Sunday 25 October at 01:00 UTC (25 hours: 24 October 22:00 UTC to 25 October 23:00 UTC).
Every expected day below is worked out by hand from those instants, in the comments.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import ConfigError, Settings, load_settings
from transforms import calendar
from transforms.runner import MARTS, build
from warehouse.db import connect

PARIS = "Europe/Paris"
_ids = iter(range(1, 10**9))

TP_COLUMNS = (
    "event_id event_type occurred_at customer_id channel touchpoint contact_id outcome wait_s talk_s hold_s acw_s "
    "reason case_id is_complaint category handle_s compensation_eur"
).split()


def touchpoint(con: duckdb.DuckDBPyConnection, **row: object) -> None:
    """A row of raw.touchpoints, and its UTC day in ops.dirty_days, as the loader writes them."""
    row = {c: row.get(c) for c in TP_COLUMNS} | {"event_id": f"e{next(_ids)}"}
    extra = {"payload": "{}", "kafka_topic": "t", "kafka_partition": 0, "kafka_offset": next(_ids)}
    row |= extra
    con.execute(
        f"insert into raw.touchpoints ({', '.join(row)}, loaded_at) values ({', '.join('?' for _ in row)}, now())",
        list(row.values()),
    )
    con.execute(
        "insert or ignore into ops.dirty_days select cast(cast(? as timestamptz) as date)", [row["occurred_at"]]
    )


def contact(con, at: str, customer: str = "c1", reason: str = "billing", outcome: str = "answered") -> None:
    answered = outcome == "answered"
    touchpoint(
        con,
        event_type="contact",
        occurred_at=at,
        customer_id=customer,
        channel="phone",
        touchpoint="hotline",
        contact_id=f"k{next(_ids)}",
        outcome=outcome,
        wait_s=5.0,
        talk_s=60.0 if answered else None,
        hold_s=0.0 if answered else None,
        acw_s=0.0 if answered else None,
        reason=reason,
    )


def survey(con, at: str, nps: int) -> None:
    con.execute(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, payload, "
        "kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values (?, ?, 's', 'web', 'checkout', 'post_journey', ?, '{}', 's', 0, ?, now())",
        [f"r{next(_ids)}", at, nps, next(_ids)],
    )
    con.execute("insert or ignore into ops.dirty_days select cast(cast(? as timestamptz) as date)", [at])


def complaint(con, at: str, case_id: str) -> None:
    touchpoint(
        con,
        event_type="case_opened",
        occurred_at=at,
        customer_id="c9",
        channel="email",
        touchpoint="form",
        case_id=case_id,
        reason="billing",
        is_complaint=True,
        category="billing_error",
    )


def settings_in(home: Path, zone: str) -> Settings:
    return dataclasses.replace(Settings(), home=home, reporting_timezone=zone)


def offered_by_day(con) -> dict[date, int]:
    rows = con.execute("select day, offered from marts.kpi_service_daily where channel = 'all' order by day").fetchall()
    return dict(rows)


def load_calendar_fixture(con) -> None:
    # Near midnight: Sunday 8 March 22:59 UTC = 23:59 Sunday in Paris; 23:30 UTC = 00:30 Monday 9 March.
    contact(con, "2026-03-08T22:59:00Z", customer="a")
    contact(con, "2026-03-08T23:30:00Z", customer="b")
    # Spring forward (Paris day 29 March: 28 March 23:00 UTC to 29 March 22:00 UTC, 23 h):
    contact(con, "2026-03-28T22:59:00Z", customer="c")  # 23:59 CET Saturday 28
    contact(con, "2026-03-28T23:00:00Z", customer="d")  # 00:00 CET Sunday 29
    contact(con, "2026-03-29T21:59:00Z", customer="e")  # 23:59 CEST Sunday 29
    contact(con, "2026-03-29T22:00:00Z", customer="f")  # 00:00 CEST Monday 30
    # Fall back (Paris day 25 October: 24 October 22:00 UTC to 25 October 23:00 UTC, 25 h):
    contact(con, "2026-10-24T21:59:00Z", customer="g")  # 23:59 CEST Saturday 24
    contact(con, "2026-10-24T22:00:00Z", customer="h")  # 00:00 CEST Sunday 25
    contact(con, "2026-10-25T22:30:00Z", customer="i")  # 23:30 CET Sunday 25 (UTC: still the 25th)
    contact(con, "2026-10-25T23:00:00Z", customer="j")  # 00:00 CET Monday 26 (UTC: still the 25th)
    # A survey at 00:30 on Monday 26 October in Paris (23:30 UTC on Sunday 25)
    survey(con, "2026-10-25T23:30:00Z", nps=10)
    # A complaint at 00:30 on 1 April in Paris (22:30 UTC on 31 March): April's Pareto, not March's
    complaint(con, "2026-03-31T22:30:00Z", "case-1")


def test_days_weeks_and_months_follow_the_reporting_zone_across_dst(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, PARIS)
    con = connect(settings.warehouse_path)
    load_calendar_fixture(con)
    build(con, settings)
    assert offered_by_day(con) == {
        date(2026, 3, 8): 1,  # a
        date(2026, 3, 9): 1,  # b: the 00:30 Monday call is Monday's
        date(2026, 3, 28): 1,  # c
        date(2026, 3, 29): 2,  # d, e: the 23-hour day, both ends included
        date(2026, 3, 30): 1,  # f
        date(2026, 10, 24): 1,  # g
        date(2026, 10, 25): 2,  # h, i: the 25-hour day
        date(2026, 10, 26): 1,  # j
    }
    # the survey of 00:30 Monday 26 October counts on the 26th
    assert con.execute("select day, responses from marts.kpi_experience_daily where channel = 'all'").fetchall() == [
        (date(2026, 10, 26), 1)
    ]
    # ISO weeks start on Paris Mondays: b (Monday 9 March 00:30) opens the week of the 9th, a (Sunday 8
    # March 23:59) closes the week of the 2nd
    weeks = con.execute(
        "select period_start, n from marts.progress_dashboard "
        "where period_type = 'week' and kpi = 'answer_rate' and scope = 'all' and period_start < '2026-03-20'"
        " order by 1"
    ).fetchall()
    assert weeks == [(date(2026, 3, 2), 1), (date(2026, 3, 9), 1)]
    # the complaint of 00:30 on 1 April (Paris) is April's
    assert con.execute("select month, complaints from marts.complaints_pareto").fetchall() == [(date(2026, 4, 1), 1)]
    assert con.execute("select day from marts.kpi_cases_daily where channel = 'all'").fetchall() == [
        (date(2026, 4, 1),)
    ]


def test_the_same_events_in_utc(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, "UTC")
    con = connect(settings.warehouse_path)
    load_calendar_fixture(con)
    build(con, settings)
    assert offered_by_day(con) == {
        date(2026, 3, 8): 2,  # a, b
        date(2026, 3, 28): 2,  # c, d
        date(2026, 3, 29): 2,  # e, f
        date(2026, 10, 24): 2,  # g, h
        date(2026, 10, 25): 2,  # i, j
    }
    assert con.execute("select month from marts.complaints_pareto").fetchall() == [(date(2026, 3, 1),)]


def test_fcr_final_counts_the_hours_of_a_23_hour_day(tmp_path: Path) -> None:
    # Sunday 29 March (Paris) ends at 22:00 UTC; with the 168-hour window its FCR is final once an event
    # at or after 5 April 22:00 UTC is in the data. Monday 30 March ends at 30 March 22:00 UTC: final
    # from 6 April 22:00 UTC. (A UTC-day reading would wait for 6 April 00:00 UTC for the 29th.)
    settings = settings_in(tmp_path, PARIS)
    con = connect(settings.warehouse_path)
    contact(con, "2026-03-29T10:00:00Z", customer="x")
    contact(con, "2026-03-30T10:00:00Z", customer="y")
    contact(con, "2026-04-05T21:59:59Z", customer="z")
    build(con, settings)
    final = "select day, fcr_final from marts.kpi_service_daily where channel = 'all' and day < '2026-04-01' order by 1"
    assert con.execute(final).fetchall() == [(date(2026, 3, 29), False), (date(2026, 3, 30), False)]
    contact(con, "2026-04-05T22:00:00Z", customer="z")  # 00:00 CEST Monday 6 April
    build(con, settings)
    assert con.execute(final).fetchall() == [(date(2026, 3, 29), True), (date(2026, 3, 30), False)]


def test_repeat_window_is_a_duration_and_incremental_reaches_back_across_dst(tmp_path: Path) -> None:
    # A call at 23:30 CET on Sunday 22 March (22:30 UTC) and the same customer calling again for the
    # same reason at 00:10 CEST on Monday 30 March (29 March 22:10 UTC): 8 calendar days apart, but
    # 167 h 40 min later because the clocks went forward in between, so within the 168-hour window:
    # the call of the 22nd is repeated. Loaded later, the repeat must rebuild the 22nd (8 Paris days
    # before the 30th: the repeat's UTC day, the 29th, overlaps Paris days 29 and 30).
    settings = settings_in(tmp_path, PARIS)
    con = connect(settings.warehouse_path)
    contact(con, "2026-03-22T22:30:00Z", customer="r")
    contact(con, "2026-03-25T12:00:00Z", customer="other")
    assert build(con, settings).full
    repeated = "select repeated from marts.kpi_service_daily where day = ? and channel = 'all'"
    assert con.execute(repeated, [date(2026, 3, 22)]).fetchall() == [(0,)]

    contact(con, "2026-03-29T22:10:00Z", customer="r")  # UTC day 29 March: Paris days 29 and 30
    result = build(con, settings)
    assert not result.full
    assert result.scope["kpi_experience_daily"] == [date(2026, 3, 29), date(2026, 3, 30)]
    assert result.scope["kpi_service_daily"] == [date(2026, 3, d) for d in range(22, 31)]
    assert con.execute(repeated, [date(2026, 3, 22)]).fetchall() == [(1,)]

    # one second later than 168 hours is no repeat: a call at 23:30 CET on 23 March (22:30 UTC) and
    # its follow-up at 30 March 22:30:01 UTC (168 h 0 min 1 s)
    contact(con, "2026-03-23T22:30:00Z", customer="s")
    contact(con, "2026-03-30T22:30:01Z", customer="s")
    build(con, settings)
    assert con.execute(repeated, [date(2026, 3, 23)]).fetchall() == [(0,)]
    assert_equals_full_rebuild(con, settings)


def assert_equals_full_rebuild(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Every mart as built incrementally equals a full rebuild, row for row."""
    for model in MARTS:
        con.execute(f"create or replace temp table incremental_{model} as select * from marts.{model}")
    build(con, settings, full=True)
    for model in MARTS:
        for a, b in ((f"incremental_{model}", f"marts.{model}"), (f"marts.{model}", f"incremental_{model}")):
            extra = con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchall()
            assert extra == [(0,)], f"{model}: rows of {a} missing from {b}"


def test_incremental_equals_full_rebuild_across_both_dst_changes(tmp_path: Path) -> None:
    settings = settings_in(tmp_path, PARIS)
    con = connect(settings.warehouse_path)
    load_calendar_fixture(con)
    build(con, settings)
    # late events around both transitions, and a repeat of customer d's call within the window
    contact(con, "2026-03-29T00:30:00Z", customer="d")  # 01:30 CET on the 29th: d's call is repeated
    complaint(con, "2026-03-28T23:15:00Z", "case-2")  # 00:15 CET Sunday 29 March
    survey(con, "2026-10-24T22:30:00Z", nps=3)  # 00:30 CEST Sunday 25 October
    contact(con, "2026-10-25T00:30:00Z", customer="h", outcome="abandoned")  # 02:30 CEST, before the change
    contact(con, "2026-10-25T01:30:00Z", customer="h2")  # 02:30 CET, the hour that happens twice
    assert not build(con, settings).full
    assert con.execute(
        "select offered, repeated from marts.kpi_service_daily where day = '2026-03-29' and channel = 'all'"
    ).fetchall() == [(3, 1)]  # d, e and d's repeat; d's first call repeated
    assert con.execute(
        "select offered from marts.kpi_service_daily where day = '2026-10-25' and channel = 'all'"
    ).fetchall() == [(4,)]  # h, i, and the two calls of 02:30
    assert_equals_full_rebuild(con, settings)


def test_changing_the_zone_rebuilds_the_marts(tmp_path: Path) -> None:
    con = connect(tmp_path / "warehouse" / "cx.duckdb")
    load_calendar_fixture(con)
    assert build(con, settings_in(tmp_path, "UTC")).full
    assert not build(con, settings_in(tmp_path, "UTC")).full
    assert date(2026, 3, 9) not in offered_by_day(con)
    result = build(con, settings_in(tmp_path, PARIS))
    assert result.full  # nothing new was loaded, but the days are other days now
    assert offered_by_day(con)[date(2026, 3, 9)] == 1
    assert con.execute("select value from ops.mart_settings where name = 'reporting_timezone'").fetchall() == [(PARIS,)]
    assert not build(con, settings_in(tmp_path, PARIS)).full
    assert build(con, settings_in(tmp_path, "UTC")).full
    assert date(2026, 3, 9) not in offered_by_day(con)


@pytest.mark.parametrize("value", ["Paris", "Europe/Pariss", "UTC'; drop table raw.touchpoints; --", "+01:00"])
def test_an_unknown_zone_is_a_configuration_error_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError, match=r"config key 'reporting_timezone' must be an IANA time zone name"):
        load_settings({"CXPULSE_REPORTING_TIMEZONE": value, "CXPULSE_CONFIG": ""})


def test_reporting_zone_defaults_to_utc_and_reads_the_environment() -> None:
    assert load_settings({"CXPULSE_CONFIG": ""}).reporting_timezone == "UTC"
    assert load_settings({"CXPULSE_REPORTING_TIMEZONE": PARIS, "CXPULSE_CONFIG": ""}).reporting_timezone == PARIS


# Zones whose offsets change in the ways tz data knows: DST by an hour, by half an hour (Lord Howe), a
# negative DST (Dublin's winter time), DST suspended for Ramadan (Casablanca), a day skipped (Apia
# crossed the date line at the end of 29 December 2011), none (UTC, Kathmandu's +05:45); and clocks
# changed at local midnight (Santiago, Havana), where an offset change found at the wrong instant
# moves instants to another day.
ZONES = [
    "UTC",
    PARIS,
    "America/New_York",
    "Australia/Lord_Howe",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Pacific/Apia",
    "Asia/Kathmandu",
    "America/Santiago",
    "America/Havana",
]


@pytest.mark.parametrize("zone", ZONES)
def test_local_day_is_icus_date_of_every_instant(zone: str) -> None:
    # local_day adds the zone's offset to the instant (transforms/calendar.py); ICU's conversion is the
    # reference: every quarter hour from 1989 to 2071 (beyond the arithmetic's years at both ends) and
    # every second two hours around each offset change, and the microsecond before it
    con = duckdb.connect()
    con.execute("create schema staging")
    calendar.create_macros(con, zone)
    changes = [start for start, _ in calendar.offset_periods(zone)]
    compared, differing = con.execute(
        """
        with instants as (
            select to_timestamp(s) as ts from range(599616000, 3187296000, 900) as r(s)
            union all
            select to_timestamp(change // 1000000 + d) from unnest($changes) as c(change), range(-7200, 7200) as r(d)
            union all
            select make_timestamptz(change - 1) from unnest($changes) as c(change)
            union all
            select null
        )
        select count(*), count(*) filter (where staging.local_day(ts) is distinct from icu_day)
        from (select ts, cast(timezone($zone, ts) as date) as icu_day from instants)
        """,
        {"changes": changes, "zone": zone},
    ).fetchall()[0]
    assert differing == 0
    assert compared > 2_800_000
    # each change is found at its instant: ICU gives the new offset there and the former one a second before
    periods = calendar.offset_periods(zone)
    offsets = con.execute(
        """
        select epoch_us(timezone($zone, make_timestamptz(start))) - start,
            epoch_us(timezone($zone, make_timestamptz(start - 1000000))) - (start - 1000000)
        from unnest($changes) as c(start)
        """,
        {"changes": changes, "zone": zone},
    ).fetchall()
    assert [now for now, _ in offsets] == [offset for _, offset in periods]
    assert [before for _, before in offsets[1:]] == [offset for _, offset in periods[:-1]]
    if zone in ("UTC", "Asia/Kathmandu"):
        assert len(changes) == 1  # one offset all along
    else:
        assert len(changes) > 20
