"""The dashboard's incidents and targets digest in the words of `cxpulse incidents`: who acknowledged or
snoozed each open incident (marts.incident_actions), severities, scopes and dates in English and French
(streams.formatting, the one place for them)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from streams import formatting
from warehouse.db import table_exists


def annotate(con: duckdb.DuckDBPyConnection, data: dict, now: datetime | None = None) -> None:
    """Adds to each incident of data["incidents"] `follow_up_en`/`_fr` and `severity_fr`, and to each item of
    data["digest"] `scope_en`/`_fr` and `red_since_fr`, plus the digest's `period_start_fr`."""
    now = now or datetime.now(UTC)
    actions: dict[str, dict] = {}
    if table_exists(con, "marts", "incident_actions"):
        # the latest action of each kind per incident; a snooze counts while its date is ahead
        for incident_id, action, by, at, note, until in con.execute(
            """select incident_id, action, done_by, done_at, note, until from marts.incident_actions
               qualify row_number() over (partition by incident_id, action order by done_at desc, action_id desc) = 1"""
        ).fetchall():
            if action == "ack":
                actions.setdefault(incident_id, {})["ack"] = (by, at, note)
            elif until is not None and until > now.date():
                actions.setdefault(incident_id, {})["snooze"] = (by, until, note)
    for incident in data.get("incidents", []):
        standing = actions.get(incident["incident_id"], {})
        for lang, french in (("en", False), ("fr", True)):
            incident[f"follow_up_{lang}"] = formatting.follow_up(standing.get("ack"), standing.get("snooze"), french)
        incident["severity_fr"] = formatting.severity(incident["severity"], True)
    digest = data.get("digest")
    if digest:
        digest["period_start_fr"] = formatting.day(digest["period_start"], True)
        for item in digest["items"]:
            item["scope_en"] = formatting.scope_label(item["scope"])
            item["scope_fr"] = formatting.scope_label(item["scope"], True)
            item["red_since_fr"] = formatting.day(item["red_since"], True) if item.get("red_since") else ""
