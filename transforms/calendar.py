"""The reporting calendar: the time zone whose days, ISO weeks and months the marts report.

`create_macros` defines, in the warehouse, `staging.reporting_timezone()` (the zone name) and the
two macros every model uses: `staging.local_day(ts)` (the local date of an instant) and
`staging.day_start(d)` (the instant a local date starts, transforms/macros/calendar.sql). The zone
name is validated (`cxpulse.config.is_time_zone`: an IANA name known to the zoneinfo database, made
of the characters such names use) before it becomes a SQL string literal; besides it, only integers
computed here are spliced.

`local_day` runs on every event of a build (tens of millions of rows at 10M events), where DuckDB's
time zone conversion (ICU) costs about 0.1 CPU microsecond a row: ten times the integer arithmetic
of an instant plus its zone's UTC offset. So the macro adds the offset, found in a tree of the
zone's offset changes from FAST_FROM to FAST_TO, and keeps ICU's conversion for instants outside
them. The changes are read from ICU itself (`offset_periods`): both paths give the same dates.

The zone the marts were built in is kept in `ops.mart_settings`; a build in another zone rebuilds
everything (`zone_change`).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import duckdb

from cxpulse.config import is_time_zone
from transforms.sql import run_file

SETTING = "reporting_timezone"
# Warehouses built before the setting existed reported UTC days.
ZONE_BEFORE_SETTING = "UTC"

# the instants local_day converts with integer arithmetic (ICU converts the others)
FAST_FROM = datetime(1990, 1, 1, tzinfo=UTC)
FAST_TO = datetime(2070, 1, 1, tzinfo=UTC)
_SECOND_US = 1_000_000
_DAY_US = 86_400 * _SECOND_US

# The zone's UTC offset hour by hour, then, in each hour where it changed, minute by minute: the first
# minute with the new offset starts its period. tz data changes offsets at most once an hour and, since
# 1990, on whole minutes (the tests check each change's instant against ICU). In seconds since the epoch.
_OFFSET_AT_SQL = "create macro offset_at(zone, at_s) as epoch_us(timezone(zone, to_timestamp(at_s))) // 1000000 - at_s"
_OFFSET_CHANGES_SQL = """
with hours as (
    select at_s, offset_at($zone, at_s) as offset_s from range($from_s, $to_s, 3600) as r(at_s)
),
changes as (
    select at_s, offset_s
    from (select *, lag(offset_s) over (order by at_s) as before_s from hours)
    where before_s <> offset_s
),
minutes as (
    select min(at_s) as start_s, any_value(offset_s) as offset_s
    from (select hour_s, unnest(range(hour_s - 3540, hour_s + 1, 60)) as at_s, offset_s
        from (select at_s as hour_s, offset_s from changes))
    where offset_at($zone, at_s) = offset_s
    group by hour_s
)
select start_s, offset_s from minutes
union all
select at_s, offset_s from hours where at_s = $from_s
order by start_s
"""


def check_zone(name: str) -> str:
    """`name` when it is an IANA time zone name (as the configuration checks it); ValueError otherwise."""
    if not is_time_zone(name):
        raise ValueError(f"{name!r} is not an IANA time zone name (such as UTC or Europe/Paris)")
    return name


@functools.cache
def offset_periods(zone: str) -> tuple[tuple[int, int], ...]:
    """The UTC offsets of `zone` from FAST_FROM to FAST_TO, as DuckDB's conversion (ICU) gives them:
    (start, offset) pairs in microseconds, each offset holding from its start to the next one's."""
    parameters = {"zone": check_zone(zone), "from_s": int(FAST_FROM.timestamp()), "to_s": int(FAST_TO.timestamp())}
    with duckdb.connect() as con:
        con.execute(_OFFSET_AT_SQL)
        rows = con.execute(_OFFSET_CHANGES_SQL, parameters).fetchall()
    return tuple((start_s * _SECOND_US, offset_s * _SECOND_US) for start_s, offset_s in rows)


def _offset_sql(periods: tuple[tuple[int, int], ...]) -> str:
    """The offset of instant `ts` (within the periods): a balanced tree of comparisons."""
    if len(periods) == 1:
        return str(periods[0][1])
    middle = len(periods) // 2
    return (
        f"case when epoch_us(ts) < {periods[middle][0]} then {_offset_sql(periods[:middle])} "
        f"else {_offset_sql(periods[middle:])} end"
    )


def local_day_sql(zone: str) -> str:
    """The body of macro staging.local_day(ts) for `zone`: the local date of instant `ts`."""
    periods = offset_periods(zone)
    fast_to = int(FAST_TO.timestamp()) * _SECOND_US
    return (
        f"case when epoch_us(ts) >= {periods[0][0]} and epoch_us(ts) < {fast_to} "
        f"then date '1970-01-01' + cast((epoch_us(ts) + {_offset_sql(periods)}) // {_DAY_US} as integer) "
        "else cast(timezone(staging.reporting_timezone(), ts) as date) end"
    )


def create_macros(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """(Re)define the calendar macros of schema staging for `zone`."""
    literal = "'" + check_zone(zone) + "'"  # checked: ASCII letters, digits, _ + - and / only
    con.execute(f"create or replace macro staging.reporting_timezone() as {literal}")
    con.execute(f"create or replace macro staging.local_day(ts) as {local_day_sql(zone)}")
    run_file(con, "macros", "calendar", {})


def built_zone(con: duckdb.DuckDBPyConnection) -> str:
    """The zone the marts were last built in."""
    rows = con.execute("select value from ops.mart_settings where name = ?", [SETTING]).fetchall()
    return rows[0][0] if rows else ZONE_BEFORE_SETTING


def zone_change(con: duckdb.DuckDBPyConnection, zone: str) -> str | None:
    """Why the marts must be rebuilt in full for `zone` (they were built in another one), or None."""
    before = built_zone(con)
    return None if before == zone else f"reporting_timezone changed from {before} to {zone}"


def record_zone(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """Remember the zone of this build (in the build's transaction)."""
    con.execute(
        "insert or replace into ops.mart_settings values (?, ?, current_timestamp)", [SETTING, check_zone(zone)]
    )
