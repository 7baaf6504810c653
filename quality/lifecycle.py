"""People's side of an incident: acknowledge it (`cxpulse incidents ack ID --note TEXT`) or snooze it until a
date (`cxpulse incidents snooze ID --until YYYY-MM-DD`), and what that changes in what they are told.

Where an action is recorded: appended (fsync'd) to `incident_actions.jsonl` under the data home, one JSON line
per action with who, when and the note. Not in the live warehouse: only DAG tasks write it (docs/design.md), and a
command must not wait for, or block, a running task's lock. The next quality run copies the lines into
`marts.incident_actions` (keyed by `action_id`, so a rerun adds nothing), from where the published snapshot,
the dashboard and BI read them; `cxpulse incidents` also shows the lines not copied yet.

What it changes (decided by `quiet` at each run, before the notifications are recorded):
- an acknowledged incident is not notified again unless it worsens (severity up); its resolution is not
  notified either, since the person who took it sees it on the dashboard;
- a snoozed incident is quiet in the same way until the start of its `until` date (reporting time zone); the
  first run after that date tells once more about an incident still open (event `snooze_ended`), unless
  someone acknowledged it;
- a message kept quiet is still recorded in marts.notifications, with delivery_status `suppressed` and the
  reason, so that what was not sent, and why, stays visible.
"""

from __future__ import annotations

import fcntl
import getpass
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import duckdb
import msgspec

from cxpulse.config import Settings
from quality import incidents, notifications
from quality.drift import Finding, Windows
from quality.incidents import _ALERT_FIELDS, _INCIDENT_FIELDS, Transition
from streams import formatting
from streams.alert_contract import SEVERITY_RANK, Alert, Incident
from warehouse.db import table_exists

log = logging.getLogger(__name__)

ACTIONS_FILE = "incident_actions.jsonl"
NOTE_MAX = 500

DDL = """
create table if not exists marts.incident_actions (
    action_id   varchar primary key,
    incident_id varchar not null,
    action      varchar not null,
    done_by     varchar not null,
    done_at     timestamptz not null,
    note        varchar,
    until       date
)
"""


class Action(msgspec.Struct, kw_only=True, frozen=True):
    """One thing a person did to an incident: who, when, what, why."""

    action_id: str
    incident_id: str
    action: Literal["ack", "snooze"]
    done_by: str  # who
    done_at: datetime  # when
    note: str | None = None
    until: date | None = None  # snooze: quiet until the start of this date, reporting time zone


_FIELDS = [f.name for f in msgspec.structs.fields(Action)]


class LifecycleError(ValueError):
    """An action that cannot be recorded; the message says why and what to do."""


def actions_path(settings: Settings) -> Path:
    return settings.home / ACTIONS_FILE


def current_user() -> str:
    """Who acts: $CXPULSE_USER, else the login name ($LOGNAME, $USER, ...)."""
    return os.environ.get("CXPULSE_USER") or getpass.getuser()


def resolve_id(con: duckdb.DuckDBPyConnection, prefix: str) -> Incident:
    """The one incident whose id starts with `prefix` (the table shows the first 8 characters)."""
    prefix = prefix.strip().lower()
    if len(prefix) < 4:
        raise LifecycleError(f"incident id {prefix!r} is too short: give at least 4 characters (`cxpulse incidents`)")
    found = []
    if table_exists(con, "marts", "incidents"):  # read-only: the published snapshot
        found = [
            Incident(**dict(zip(_INCIDENT_FIELDS, row, strict=True)))
            for row in con.execute(
                f"select {', '.join(_INCIDENT_FIELDS)} from marts.incidents where starts_with(incident_id, ?)",  # noqa: S608 - contract fields
                [prefix],
            ).fetchall()
        ]
    if not found:
        raise LifecycleError(f"no incident {prefix!r}: see the ids in `cxpulse incidents`")
    if len(found) > 1:
        raise LifecycleError(f"incident id {prefix!r} is ambiguous ({len(found)} incidents): give more characters")
    return found[0]


def record(
    settings: Settings,
    incident: Incident,
    action: Literal["ack", "snooze"],
    *,
    by: str,
    note: str | None = None,
    until: date | None = None,
    at: datetime | None = None,
    today: date | None = None,
) -> Action:
    """Append one action to the actions file (durable when this returns)."""
    if incident.status != "open":
        raise LifecycleError(f"incident {incident.incident_id[:8]} is {incident.status}: nothing to {action}")
    if not by.strip():
        raise LifecycleError("who acts is unknown: set --by or $CXPULSE_USER")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise LifecycleError(f"--note is {len(note)} characters long; at most {NOTE_MAX}")
    if action == "snooze":
        zone = ZoneInfo(settings.reporting_timezone)
        today = today or datetime.now(zone).date()
        if until is None or until <= today:
            raise LifecycleError(f"--until must be a date after today ({today:%Y-%m-%d}), got {until}")
    at = at or datetime.now(UTC)
    key = f"cxpulse:incident-action:{incident.incident_id}:{action}:{by}:{at.isoformat()}"
    entry = Action(
        action_id=str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        incident_id=incident.incident_id,
        action=action,
        done_by=by.strip(),
        done_at=at,
        note=note,
        until=until if action == "snooze" else None,
    )
    path = actions_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    # owner-only: it names people; one line per write, under an exclusive lock, fsync'd before we say "done"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, msgspec.json.encode(entry) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read_actions(settings: Settings) -> list[Action]:
    """The actions file, oldest first; a line that does not parse (a torn write) is named and skipped."""
    path = actions_path(settings)
    if not path.exists():
        return []
    out = []
    decoder = msgspec.json.Decoder(Action)
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(decoder.decode(line))
        except msgspec.DecodeError as exc:
            log.warning("%s line %d skipped: %s", path, number, exc)
    return out


def sync(con: duckdb.DuckDBPyConnection, settings: Settings) -> int:
    """Copy the actions file into marts.incident_actions; returns how many rows are new (0 on a rerun)."""
    con.execute(DDL)
    before = con.execute("select count(*) from marts.incident_actions").fetchall()[0][0]
    rows = [[getattr(a, f) for f in _FIELDS] for a in read_actions(settings)]
    if rows:
        con.executemany("insert into marts.incident_actions values (?, ?, ?, ?, ?, ?, ?) on conflict do nothing", rows)
    return con.execute("select count(*) from marts.incident_actions").fetchall()[0][0] - before


@dataclass(frozen=True)
class Standing:
    """Where people stand on one incident: the latest acknowledgement and the latest snooze."""

    ack: Action | None = None
    snooze: Action | None = None

    def snooze_end(self, zone: str) -> datetime | None:
        if self.snooze is None or self.snooze.until is None:
            return None
        return datetime.combine(self.snooze.until, time(0), ZoneInfo(zone))

    def snoozed(self, as_of: datetime, zone: str) -> bool:
        end = self.snooze_end(zone)
        return end is not None and as_of < end

    def describe(self, french: bool = False, as_of: datetime | None = None, zone: str = "UTC") -> str:
        """ "acknowledged by alice on 2026-12-02: on it with IT" / "pris en charge par alice le 02/12/2026 : …"."""
        ack = (self.ack.done_by, self.ack.done_at, self.ack.note) if self.ack is not None else None
        snooze = None
        if self.snooze is not None and (as_of is None or self.snoozed(as_of, zone)):
            snooze = (self.snooze.done_by, self.snooze.until, self.snooze.note)
        return formatting.follow_up(ack, snooze, french)


def standings(con: duckdb.DuckDBPyConnection | None, extra: list[Action] = ()) -> dict[str, Standing]:
    """incident_id -> Standing, from marts.incident_actions (when the connection has it) and `extra`
    (lines of the actions file not copied yet)."""
    actions: dict[str, Action] = {}
    if con is not None and table_exists(con, "marts", "incident_actions"):
        sql = f"select {', '.join(_FIELDS)} from marts.incident_actions"  # noqa: S608 - contract fields
        for row in con.execute(sql).fetchall():
            a = Action(**dict(zip(_FIELDS, row, strict=True)))
            actions[a.action_id] = a
    for a in extra:
        actions.setdefault(a.action_id, a)
    out: dict[str, Standing] = {}
    for a in sorted(actions.values(), key=lambda a: (a.done_at, a.action_id)):
        s = out.get(a.incident_id, Standing())
        out[a.incident_id] = Standing(ack=a, snooze=s.snooze) if a.action == "ack" else Standing(s.ack, a)
    return out


def quiet(transitions: list[Transition], standing: dict[str, Standing], as_of: datetime, zone: str) -> dict[str, str]:
    """incident_id -> why its message this run is kept quiet (acknowledged, or snoozed), unless it worsens."""
    out = {}
    for t in transitions:
        s = standing.get(t.incident.incident_id)
        if s is None:
            continue
        worsens = t.event == "severity_changed" and SEVERITY_RANK[t.incident.severity] > SEVERITY_RANK.get(
            t.previous_severity or "info", 0
        )
        if worsens:
            continue
        if s.ack is not None:
            out[t.incident.incident_id] = f"acknowledged by {s.ack.done_by} at {s.ack.done_at.isoformat()}"
        elif s.snoozed(as_of, zone):
            out[t.incident.incident_id] = f"snoozed until {s.snooze.until} by {s.snooze.done_by}"
    return out


def snooze_ends(
    con: duckdb.DuckDBPyConnection, standing: dict[str, Standing], as_of: datetime, zone: str
) -> list[Transition]:
    """One `snooze_ended` transition per open incident whose snooze ended since it was told last (none when
    acknowledged): the reminder people asked for when they snoozed it."""
    out = []
    for incident in incidents.load(con, "status = 'open'"):
        s = standing.get(incident.incident_id)
        end = s.snooze_end(zone) if s is not None else None
        if s is None or s.ack is not None or end is None or as_of < end:
            continue
        told = con.execute(
            "select count(*) from marts.notifications where subject_id = ? and event = 'snooze_ended' "
            "and created_at >= ?",
            [incident.incident_id, end],
        ).fetchall()[0][0]
        if told:
            continue
        findings = [
            Alert(**dict(zip(_ALERT_FIELDS, row, strict=True)))
            for row in con.execute(
                f"select {', '.join(_ALERT_FIELDS)} from marts.alerts where incident_id = ? and status = 'open'",  # noqa: S608 - contract fields
                [incident.incident_id],
            ).fetchall()
        ]
        out.append(Transition("snooze_ended", incident, findings))
    return out


def notify(
    con: duckdb.DuckDBPyConnection, settings: Settings, windows: Windows, findings: list[Finding], as_of: datetime
) -> list[Transition]:
    """The incident part of a quality run: people's actions since the last run, incidents regrouped, and one
    notification per transition (snooze ends included), quiet where people asked for it."""
    sync(con, settings)
    transitions = incidents.update(con, settings, windows, findings, as_of)
    con.execute(notifications.DDL)
    standing = standings(con)
    zone = settings.reporting_timezone
    told = {t.incident.incident_id for t in transitions}
    transitions += [t for t in snooze_ends(con, standing, as_of, zone) if t.incident.incident_id not in told]
    notifications.record_incidents(con, transitions, as_of, quiet(transitions, standing, as_of, zone))
    return transitions
