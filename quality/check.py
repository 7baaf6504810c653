"""One quality run: quality gates, drift detection with its Evidently evidence, target breaches, the
batch record of hot-path detractor alerts, then alert delivery.

`cxpulse check`, `cxpulse run` and the cx_quality DAG call `run_checks`. A failing gate (or a model
test failure the build reports through `prior_failures`) raises a `data_quality` alert and makes the
run fail, so nothing is published. The model tests of schema.yaml are not run again here: only the
build writes the marts they test, and it commits nothing that fails them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import msgspec

from cxpulse.config import Settings
from quality import alerts, emerging, hot_alerts, incidents, journeys, lifecycle, notifications, wording
from quality.drift import ALPHA, RULES, Finding, Windows, detect
from quality.sinks import deliver_pending

log = logging.getLogger(__name__)

SCORE_COLUMNS = {"nps": "nps", "csat": "csat", "ces_easy_rate": "ces"}
MANAGED_RULES = {*RULES.values(), "distribution_drift", "target_breach", "data_quality", journeys.RULE, emerging.RULE}


@dataclass
class CheckResult:
    as_of: datetime
    quality_failures: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    changes: alerts.Changes | None = None
    transitions: list[incidents.Transition] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    evidence: Path | None = None
    delivery: dict[str, int] = field(default_factory=dict)
    hot: tuple[int, int] = (0, 0)  # hot-path detractor alerts recorded, resolved

    @property
    def passed(self) -> bool:
        return not self.quality_failures


class QualityGateError(RuntimeError):
    pass


def _score_samples(con: duckdb.DuckDBPyConnection, windows: Windows, tested: list[Finding]) -> list:
    from quality.evidence import ScoreSample

    samples = []
    for f in tested:
        column = SCORE_COLUMNS.get(f.test.kpi)
        if column is None:
            continue
        kind, _, value = f.test.scope.partition(":")
        dimension = {"all": None, "channel": "channel", "touchpoint": "touchpoint", "segment": "segment"}[kind]
        # column and dimension come from the fixed maps above; window bounds and the scope value are bound
        where = f"and {dimension} = $value" if dimension else ""
        rows = con.execute(
            f"""select occurred_at >= $current_start, {column} from staging.stg_survey_responses
                where occurred_at >= $baseline_start and occurred_at < $as_of and {column} is not null
                {where}""",  # noqa: S608
            {
                "current_start": windows.current_start,
                "baseline_start": windows.baseline_start,
                "as_of": windows.as_of,
                **({"value": value} if dimension else {}),
            },
        ).fetchall()
        samples.append(
            ScoreSample(
                f.test.kpi,
                f.test.scope,
                [float(s) for c, s in rows if c],
                [float(s) for c, s in rows if not c],
            )
        )
    return samples


def _distribution_candidates(
    con, settings: Settings, windows: Windows, findings: list[Finding], result: CheckResult
) -> list[alerts.Candidate]:
    """Evidently report of current vs baseline score distributions; an alert only where it agrees with
    a significant shift test (after Benjamini-Hochberg)."""
    from quality.evidence import evidence_report

    tested = [
        f for f in findings if f.test.kpi in SCORE_COLUMNS and min(f.test.current.n, f.test.baseline.n) >= f.kpi.min_n
    ]
    out_html = settings.reports_dir / "drift" / f"evidence-{windows.as_of:%Y%m%dT%H%M%SZ}.html"
    if not tested:
        return []
    verdicts = evidence_report(_score_samples(con, windows, tested), out_html)
    result.evidence = out_html
    candidates = []
    for f in tested:
        verdict = verdicts.get((f.test.kpi, f.test.scope))
        significant = f.test.q_value is not None and f.test.q_value <= ALPHA
        if verdict is None or not (verdict.drifted and significant):
            continue
        en, fr = alerts.shift_messages(f)
        candidates.append(
            alerts.finding_candidate(
                f,
                rule="distribution_drift",
                severity="info",
                message=f"Score distribution changed ({verdict.method}): {en}",
                message_fr=f"La distribution des notes a changé ({verdict.method}) : {fr}",
                evidence=str(out_html),
            )
        )
    return candidates


def _target_breaches(con: duckdb.DuckDBPyConnection, as_of: datetime, zone: str = "UTC") -> list[alerts.Candidate]:
    """A KPI red on the progress dashboard in the latest week or month started before as-of: once per period."""
    rows = con.execute(
        """
        with latest as (
            select period_type, max(period_start) as period_start from marts.progress_dashboard
            -- periods of the reporting calendar: the date of the as-of instant in the reporting zone
            where period_start <= cast(timezone($zone, cast($as_of as timestamptz)) as date) group by period_type
        )
        select d.period_type, d.period_start, d.kpi, d.scope, d.label_en, d.label_fr, d.value, d.target, d.n,
               d.unit, d.previous_value
        from marts.progress_dashboard d join latest using (period_type, period_start)
        where d.status = 'red'
        """,
        {"as_of": as_of, "zone": zone},
    ).fetchall()
    out = []
    for period_type, start, kpi, scope, label_en, label_fr, value, target, n, unit, previous in rows:
        fmt_en, fmt_fr = alerts.format_value(value, unit), alerts.format_value(value, unit, french=True)
        tgt_en, tgt_fr = alerts.format_value(target, unit), alerts.format_value(target, unit, french=True)
        period_fr = "semaine" if period_type == "week" else "mois"
        out.append(
            alerts.Candidate(
                rule="target_breach",
                severity="warning",
                kpi=kpi,
                scope=scope,
                window_start=None,
                window_end=None,
                baseline_value=previous,
                current_value=value,
                n_current=n,
                n_baseline=None,
                p_value=None,
                message=f"{label_en} on {scope} is {fmt_en} for the {period_type} starting {start:%Y-%m-%d} on {n:,} "
                f"observations, worse than its target {tgt_en} beyond tolerance.",
                message_fr=f"{label_fr} sur {wording.scope_name(scope, True)} : {fmt_fr} pour la {period_fr} "
                f"commençant le {wording.day(start, True)} sur {wording.count(n, True)} observations, en dehors de "
                f"la tolérance de l'objectif {tgt_fr}.",
                dedupe_key=f"target_breach|{kpi}|{scope}|{period_type}|{start:%Y-%m-%d}",
            )
        )
    return out


def _quality_candidate(failures: list[str], as_of: datetime, report: Path | None) -> list[alerts.Candidate]:
    if not failures:
        return []
    summary = "; ".join(failures[:5]) + (f" (+{len(failures) - 5} more)" if len(failures) > 5 else "")
    return [
        alerts.Candidate(
            rule="data_quality",
            severity="critical",
            kpi=None,
            scope="all",
            window_start=None,
            window_end=as_of,
            baseline_value=None,
            current_value=None,
            n_current=len(failures),
            n_baseline=None,
            p_value=None,
            message=f"{len(failures)} data quality check(s) failed, so the snapshot was not published: {summary}.",
            message_fr=f"{len(failures)} contrôle(s) de qualité en échec, l'instantané n'a pas été publié : {summary}.",
            dedupe_key="data_quality|warehouse|all",
            evidence=str(report) if report else None,
        )
    ]


def run_checks(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    as_of: datetime,
    *,
    deliver: bool = True,
    prior_failures: tuple[str, ...] = (),
) -> CheckResult:
    from quality.gates import run_gates

    result = CheckResult(as_of=as_of, quality_failures=list(prior_failures))
    gates = run_gates(con, settings, as_of=as_of, max_age_hours=settings.freshness_max_age_h)
    result.quality_failures += gates.failures

    windows = Windows.ending(as_of, settings.alert_current_days, settings.alert_baseline_days)
    result.findings = detect(con, settings, windows)
    candidates = alerts.shift_candidates(result.findings, None)
    candidates += _distribution_candidates(con, settings, windows, result.findings, result)
    if result.evidence:
        candidates = [
            c if c.evidence else msgspec.structs.replace(c, evidence=str(result.evidence)) for c in candidates
        ]
    candidates += emerging.candidates(con, settings, windows, emerging.detect(con, windows))
    candidates += _target_breaches(con, as_of, settings.reporting_timezone)
    candidates += journeys.rupture_candidates(con, as_of, settings.reporting_timezone)
    candidates += _quality_candidate(result.quality_failures, as_of, gates.report_path)
    result.changes = alerts.apply(con, candidates, as_of, MANAGED_RULES)
    result.hot = hot_alerts.record(con, settings, as_of)  # what the consumer sent on cx.alerts, recorded
    # People are told about incidents and target digests, never one message per finding.
    new_warehouse = not notifications.exists(con)
    result.transitions = lifecycle.notify(con, settings, windows, result.findings, as_of)
    result.digests = notifications.record_digests(con, as_of, history=new_warehouse)
    if deliver:
        result.delivery = deliver_pending(con, settings)
    log.info(
        "checks as of %s: %d quality failures, alerts opened %d, resolved %d; incident notifications %d, digests %d",
        as_of.isoformat(),
        len(result.quality_failures),
        len(result.changes.opened),
        len(result.changes.resolved),
        len(result.transitions),
        len(result.digests),
    )
    return result
