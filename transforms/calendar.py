"""The reporting calendar: the time zone whose days, ISO weeks and months the marts report.

`create_macros` defines, in the warehouse, `staging.reporting_timezone()` (the zone name) and the
macros of transforms/macros/calendar.sql that every model uses: `staging.local_day(ts)` (the local
date of an instant) and `staging.day_start(d)` (the instant a local date starts). The zone name is
validated (`cxpulse.config.is_time_zone`: an IANA name known to the zoneinfo database, made of the
characters such names use) before it becomes a SQL string literal; nothing else is spliced.

The zone the marts were built in is kept in `ops.mart_settings`; a build in another zone rebuilds
everything (`zone_change`).
"""

from __future__ import annotations

import duckdb

from cxpulse.config import is_time_zone
from transforms.sql import run_file

SETTING = "reporting_timezone"
# Warehouses built before the setting existed reported UTC days.
ZONE_BEFORE_SETTING = "UTC"


def check_zone(name: str) -> str:
    """`name` when it is an IANA time zone name (as the configuration checks it); ValueError otherwise."""
    if not is_time_zone(name):
        raise ValueError(f"{name!r} is not an IANA time zone name (such as UTC or Europe/Paris)")
    return name


def create_macros(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """(Re)define the calendar macros of schema staging for `zone`."""
    literal = "'" + check_zone(zone) + "'"  # checked: ASCII letters, digits, _ + - and / only
    con.execute(f"create or replace macro staging.reporting_timezone() as {literal}")
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
