"""marts.alerts: one row per alert, one open alert per dedupe_key, resolution when back in band.

A rerun with the same as-of reaches the same decisions and only refreshes `last_seen_at`, so it never
duplicates an alert. After an alert resolves, the same key stays quiet for COOLDOWN.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import UnionType
from typing import Literal, get_args, get_origin, get_type_hints

import duckdb
import msgspec

from quality import wording
from quality.drift import RULES, Finding, severity
from streams.alert_contract import Alert
from warehouse.db import transaction

COOLDOWN = timedelta(hours=24)

# SQL type of each field type of the cx.alerts contract (streams.alert_contract): the tables are derived
# from the contract, so the shape of an alert is stated once.
_SQL_TYPES = {
    "str": "varchar",
    "float": "double",
    "int": "bigint",
    "datetime": "timestamptz",
    "list": "varchar[]",
    "Literal": "varchar",
}


def table_columns(struct: type[msgspec.Struct]) -> list[str]:
    """`name type [not null]` for each field of a contract class, in its order (not null unless optional)."""
    hints = get_type_hints(struct)
    columns = []
    for field in msgspec.structs.fields(struct):
        hint = hints[field.name]
        args = [a for a in get_args(hint) if a is not type(None)] if get_origin(hint) is UnionType else [hint]
        kind = get_origin(args[0]) or args[0]
        name = "Literal" if kind is Literal else "list" if kind is list else kind.__name__
        required = type(None) not in get_args(hint)
        columns.append(f"{field.name} {_SQL_TYPES[name]}{' not null' if required else ''}")
    return columns


# Delivery bookkeeping of the batch sinks: internal, not part of the message.
DDL = f"""
create table if not exists marts.alerts (
    {", ".join(table_columns(Alert)).replace("alert_id varchar not null", "alert_id varchar primary key")},
    delivery_status   varchar not null default 'pending',
    delivery_attempts integer not null default 0,
    delivery_error    varchar
)
"""
# marts.alerts written before incidents existed
MIGRATIONS = (
    "alter table marts.alerts add column if not exists incident_id varchar",
    # hot-path alerts recorded in the warehouse (quality.hot_alerts): the answer and its case or contact
    "alter table marts.alerts add column if not exists response_id varchar",
    "alter table marts.alerts add column if not exists case_id varchar",
    "alter table marts.alerts add column if not exists contact_id varchar",
)

# What the checks found this run for one dedupe_key: an Alert not recorded yet (alert_id and lifecycle
# timestamps are set by `apply`).
Candidate = Alert


def format_value(value: float, unit: str, french: bool = False) -> str:
    return wording.value(value, unit, french)


def shift_messages(f: Finding) -> tuple[str, str]:
    """One sentence each in English and French: what moved, where, from what to what, on how many
    answers, compared to what."""
    t, k, windows = f.test, f.kpi, f.windows
    up = (t.delta or 0) > 0
    last_day = windows.as_of - timedelta(seconds=1)
    period = f"{windows.current_start:%Y-%m-%d} to {last_day:%Y-%m-%d}"
    period_fr = f"du {wording.day(windows.current_start, True)} au {wording.day(last_day, True)}"
    baseline_days = (windows.current_start - windows.baseline_start).days
    en = (
        f"{k.label_en} on {t.scope} {'rose' if up else 'fell'} from {format_value(t.baseline_value, k.unit)} to "
        f"{format_value(t.current_value, k.unit)} on {t.current.n:,} answers over {period}, against "
        f"{t.baseline.n:,} answers in the {baseline_days} days before (p = {t.p_value:.2g})."
    )
    fr = (
        f"{k.label_fr} sur {wording.scope_name(t.scope, True)} : {'en hausse' if up else 'en baisse'}, de "
        f"{format_value(t.baseline_value, k.unit, True)} à {format_value(t.current_value, k.unit, True)} "
        f"({wording.change(t.delta or 0, k.unit, True)}) sur {wording.count(t.current.n, True)} réponses "
        f"{period_fr}, contre {wording.count(t.baseline.n, True)} réponses sur les {baseline_days} jours "
        f"précédents (p = {f'{t.p_value:.2g}'.replace('.', ',')})."
    )
    return en, fr


def finding_candidate(
    f: Finding, *, rule: str, severity: str, message: str, message_fr: str, evidence: str | None
) -> Candidate:
    """The alert for one tested KPI and scope: values, sizes and windows come from the finding."""
    return Candidate(
        rule=rule,
        severity=severity,
        kpi=f.test.kpi,
        scope=f.test.scope,
        window_start=f.windows.current_start,
        window_end=f.windows.as_of,
        baseline_value=f.test.baseline_value,
        current_value=f.test.current_value,
        n_current=f.test.current.n,
        n_baseline=f.test.baseline.n,
        p_value=f.test.p_value,
        message=message,
        message_fr=message_fr,
        dedupe_key=f"{rule}|{f.test.kpi}|{f.test.scope}",
        evidence=evidence,
    )


def shift_candidates(findings: list[Finding], evidence: str | None) -> list[Candidate]:
    out = []
    for f in findings:
        if f.fires:
            en, fr = shift_messages(f)
            out.append(
                finding_candidate(
                    f,
                    rule=RULES[f.test.kpi],
                    severity=severity(f),
                    message=en,
                    message_fr=fr,
                    evidence=evidence,
                )
            )
    return out


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)
    for statement in MIGRATIONS:
        con.execute(statement)


@dataclass
class Changes:
    opened: list[str]
    refreshed: list[str]
    resolved: list[str]


def apply(
    con: duckdb.DuckDBPyConnection, candidates: list[Candidate], as_of: datetime, managed_rules: set[str]
) -> Changes:
    """Open, refresh or resolve alerts so that open alerts of `managed_rules` are exactly `candidates`."""
    ensure_table(con)
    changes = Changes([], [], [])
    open_rows = {
        key: alert_id
        for key, alert_id in con.execute(
            "select dedupe_key, alert_id from marts.alerts where status = 'open'"
        ).fetchall()
    }
    wanted = {c.dedupe_key: c for c in candidates}
    with transaction(con):
        for key, c in wanted.items():
            if key in open_rows:
                con.execute(
                    """update marts.alerts set last_seen_at = ?, current_value = ?, baseline_value = ?, delta = ?,
                       n_current = ?, n_baseline = ?, p_value = ?, severity = ?, message = ?, message_fr = ?,
                       window_start = ?, window_end = ?, evidence = coalesce(?, evidence)
                       where alert_id = ?""",
                    [
                        as_of,
                        c.current_value,
                        c.baseline_value,
                        c.delta,
                        c.n_current,
                        c.n_baseline,
                        c.p_value,
                        c.severity,
                        c.message,
                        c.message_fr,
                        c.window_start,
                        c.window_end,
                        c.evidence,
                        open_rows[key],
                    ],
                )
                changes.refreshed.append(open_rows[key])
                continue
            last_resolved = con.execute(
                "select max(resolved_at) from marts.alerts where dedupe_key = ?", [key]
            ).fetchall()[0][0]
            if last_resolved is not None and as_of - last_resolved < COOLDOWN:
                continue
            alert_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cxpulse:{key}:{as_of.isoformat()}"))
            con.execute(
                """insert into marts.alerts (alert_id, rule, severity, kpi, scope, window_start, window_end,
                   baseline_value, current_value, delta, n_current, n_baseline, p_value, message, message_fr,
                   status, first_fired_at, last_seen_at, dedupe_key, evidence)
                   values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)
                   on conflict do nothing""",
                [
                    alert_id,
                    c.rule,
                    c.severity,
                    c.kpi,
                    c.scope,
                    c.window_start,
                    c.window_end,
                    c.baseline_value,
                    c.current_value,
                    c.delta,
                    c.n_current,
                    c.n_baseline,
                    c.p_value,
                    c.message,
                    c.message_fr,
                    as_of,
                    as_of,
                    key,
                    c.evidence,
                ],
            )
            changes.opened.append(alert_id)
        for key, alert_id in open_rows.items():
            rule = key.split("|", 1)[0]
            if rule in managed_rules and key not in wanted:
                con.execute(
                    "update marts.alerts set status = 'resolved', resolved_at = ?, last_seen_at = ?, "
                    "delivery_status = 'pending' where alert_id = ?",
                    [as_of, as_of, alert_id],
                )
                changes.resolved.append(alert_id)
    return changes
