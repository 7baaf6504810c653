"""marts.notifications: the outbox of what people are told — one row per incident transition (opened, severity
changed, resolved, snooze ended) and one target digest per period. The sinks (quality.sinks) deliver pending
rows; a message people asked not to get (quality.lifecycle) is recorded as `suppressed`, with the reason.

Target digests: each run looks at the latest COMPLETED week and month of the progress dashboard; the KPIs red
there become one digest for that period, recorded once (its id is the period). On the first run of a new
warehouse those periods are history: the digest is recorded as `skipped` and nobody is notified about it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import duckdb

from quality import wording
from quality.incidents import Transition
from streams.alert_contract import DigestItem, IncidentNotice, TargetDigest, encode
from warehouse.db import table_exists

DDL = """
create table if not exists marts.notifications (
    notification_id   varchar primary key,
    kind              varchar not null,
    subject_id        varchar not null,
    event             varchar not null,
    severity          varchar not null,
    created_at        timestamptz not null,
    message           varchar not null,
    message_fr        varchar not null,
    payload           varchar not null,
    delivery_status   varchar not null default 'pending',
    delivery_attempts integer not null default 0,
    delivery_error    varchar
)
"""


def exists(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, "marts", "notifications")


def _record(
    con: duckdb.DuckDBPyConnection,
    notification_id: str,
    kind: str,
    subject_id: str,
    event: str,
    severity: str,
    created_at: datetime,
    message: str,
    message_fr: str,
    payload: bytes,
    status: str = "pending",
    error: str | None = None,
) -> None:
    con.execute(
        """insert into marts.notifications (notification_id, kind, subject_id, event, severity, created_at, message,
           message_fr, payload, delivery_status, delivery_error) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict do nothing""",
        [
            notification_id,
            kind,
            subject_id,
            event,
            severity,
            created_at,
            message,
            message_fr,
            payload.decode(),
            status,
            error,
        ],
    )


def record_incidents(
    con: duckdb.DuckDBPyConnection,
    transitions: list[Transition],
    as_of: datetime,
    quiet: dict[str, str] | None = None,
) -> int:
    """One notification per transition; those of `quiet` incidents (acknowledged or snoozed, see
    quality.lifecycle) are recorded as `suppressed` with the reason, and never delivered."""
    con.execute(DDL)
    quiet = quiet or {}
    for t in transitions:
        en, fr = wording.incident_message(t.event, t.incident, t.findings)
        notice = IncidentNotice(message=en, message_fr=fr, event=t.event, incident=t.incident, findings=t.findings)
        key = f"cxpulse:notice:{t.incident.incident_id}:{t.event}:{as_of.isoformat()}"
        _record(
            con,
            str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
            "incident",
            t.incident.incident_id,
            t.event,
            t.incident.severity,
            as_of,
            en,
            fr,
            encode(notice),
            status="suppressed" if t.incident.incident_id in quiet else "pending",
            error=quiet.get(t.incident.incident_id),
        )
    return len(transitions)


def _period_end(period_type: str, start: date) -> date:
    if period_type == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def record_digests(con: duckdb.DuckDBPyConnection, as_of: datetime, *, history: bool) -> list[str]:
    """One digest per latest completed week / month with red KPIs; returns the ids newly recorded."""
    con.execute(DDL)
    if not table_exists(con, "marts", "progress_dashboard"):
        return []
    recorded = []
    for period_type in ("week", "month"):
        starts = [
            s
            for (s,) in con.execute(
                "select distinct period_start from marts.progress_dashboard where period_type = ? order by 1 desc",
                [period_type],
            ).fetchall()
        ]
        done = [s for s in starts if _period_end(period_type, s) <= as_of.date()]
        if not done:
            continue
        start = done[0]
        digest_id = f"digest|{period_type}|{start:%Y-%m-%d}"
        if con.execute("select count(*) from marts.notifications where notification_id = ?", [digest_id]).fetchall()[0][
            0
        ]:
            continue  # recorded by an earlier run: delivered once
        rows = con.execute(
            """select kpi, scope, label_en, label_fr, value, target, unit, n, trend from marts.progress_dashboard
               where period_type = ? and period_start = ? and status = 'red' order by kpi, scope""",
            [period_type, start],
        ).fetchall()
        if not rows:
            continue
        statuses = {
            (kpi, scope): [(s, st) for s, st in history_rows]
            for (kpi, scope), history_rows in _history(con, period_type, start).items()
        }
        items = []
        for kpi, scope, label_en, label_fr, value, target, unit, n, trend in rows:
            since = start
            for s, status in statuses.get((kpi, scope), []):
                if status != "red":
                    break
                since = s
            items.append(
                DigestItem(
                    kpi=kpi,
                    scope=scope,
                    label_en=label_en,
                    label_fr=label_fr,
                    value=value,
                    target=target,
                    unit=unit,
                    n=n,
                    red_since=f"{since:%Y-%m-%d}",
                    trend=trend,
                )
            )
        en, fr = wording.digest_message(period_type, f"{start:%Y-%m-%d}", items)
        digest = TargetDigest(
            message=en,
            message_fr=fr,
            digest_id=digest_id,
            period_type=period_type,
            period_start=f"{start:%Y-%m-%d}",
            items=items,
        )
        _record(
            con,
            digest_id,
            "digest",
            digest_id,
            "digest",
            "warning",
            as_of,
            en,
            fr,
            encode(digest),
            status="skipped" if history else "pending",
        )
        recorded.append(digest_id)
    return recorded


def _history(con: duckdb.DuckDBPyConnection, period_type: str, start: date) -> dict[tuple[str, str], list]:
    """(kpi, scope) -> [(period_start, status)] of the periods before `start`, newest first."""
    out: dict[tuple[str, str], list] = {}
    for kpi, scope, s, status in con.execute(
        """select kpi, scope, period_start, status from marts.progress_dashboard
           where period_type = ? and period_start < ? order by period_start desc""",
        [period_type, start],
    ).fetchall():
        out.setdefault((kpi, scope), []).append((s, status))
    return out
