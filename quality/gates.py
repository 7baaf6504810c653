"""Quality gates: Great Expectations suites over the raw tables and every mart.

Frames are read from DuckDB with only the columns an expectation needs, then validated by GX 1.x on
an ephemeral context (nothing is written to a GX project folder). Raw tables can be large, so
row-level expectations run on the `RAW_SAMPLE_ROWS` most recent rows (by occurred_at), and the
checks that need the whole table (unique ids) are computed exactly in DuckDB and checked by an
expectation on a one-row frame (suite `<table> (full table)`). Freshness needs only the newest row,
which the most-recent sample holds. Marts are small and read whole.

The full GX results go to reports/quality/gates-<as_of>.json; `GateResult.failures` has one line per
failed expectation, for the `data_quality` alert.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from cxpulse.config import Settings
from streams.contracts import TOUCHPOINT_TYPES, Channel, Emotion
from transforms.schema import gate_bounds, gate_checks, load_schema
from warehouse.db import table_exists

log = logging.getLogger(__name__)

RAW_SAMPLE_ROWS = 200_000
EVENT_TYPES = tuple(t.__struct_config__.tag for t in TOUCHPOINT_TYPES)
CHANNELS = tuple(c.value for c in Channel)
EMOTIONS = tuple(e.value for e in Emotion)
OUTCOMES = ("answered", "abandoned")
TOUCHPOINT_AMOUNTS = ("wait_s", "talk_s", "hold_s", "acw_s", "handle_s", "duration_s", "compensation_eur")
SURVEY_SCORES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "expected": (1, 5)}


@dataclass
class GateResult:
    passed: bool
    failures: list[str] = field(default_factory=list)
    report_path: Path | None = None


@dataclass
class _Check:
    """One frame validated by one suite."""

    suite: str
    frame: pd.DataFrame
    expectations: list[Any]


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def _between(column: str, low: float | None, high: float | None, **meta: Any) -> Any:
    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column, min_value=low, max_value=high, meta=meta or None
    )


def _in_set(column: str, values: tuple[str, ...]) -> Any:
    return gx.expectations.ExpectColumnValuesToBeInSet(column=column, value_set=list(values))


def _unique_ids(con: duckdb.DuckDBPyConnection, table: str, column: str) -> _Check:
    """Exact uniqueness over the whole table, counted in DuckDB, checked on a one-row frame."""
    # table and column are constants of this module
    totals = _frame(
        con,
        f"select count(*) as row_count, count(*) - count(distinct {column}) "  # noqa: S608
        f"as {column}_duplicates from {table}",
    )
    note = f"{column} unique over the full table"
    if totals.iloc[0][f"{column}_duplicates"] > 0:
        examples = con.execute(
            f"select {column} from {table} group by all having count(*) > 1 order by 1 limit 5"  # noqa: S608
        ).fetchall()
        note += ", duplicated e.g. " + ", ".join(repr(r[0]) for r in examples)
    unique = _between(f"{column}_duplicates", 0, 0, check=note, aggregate=True)
    return _Check(f"{table} (full table)", totals, [unique])


def _raw_checks(
    con: duckdb.DuckDBPyConnection, as_of: datetime, max_age_hours: float, skipped: list[dict]
) -> list[_Check]:
    checks = []
    # raw.touchpoints: the most recent rows, row by row
    sample = _frame(
        con,
        f"""select occurred_at, event_type, channel, outcome, {", ".join(TOUCHPOINT_AMOUNTS)}
            from raw.touchpoints order by occurred_at desc limit {RAW_SAMPLE_ROWS}""",  # noqa: S608
    )
    expectations = [
        _in_set("event_type", EVENT_TYPES),
        _in_set("channel", CHANNELS),
        _in_set("outcome", OUTCOMES),  # nulls are not checked by in-set: outcome may be null
        *(_between(column, 0, None) for column in TOUCHPOINT_AMOUNTS),
    ]
    if sample.empty:
        skipped.append({"suite": "raw.touchpoints", "check": "freshness", "reason": "empty table"})
    else:
        oldest_allowed = as_of - timedelta(hours=max_age_hours)
        expectations.append(
            gx.expectations.ExpectColumnMaxToBeBetween(
                column="occurred_at",
                min_value=oldest_allowed,
                meta={"check": f"freshness: newest event at most {max_age_hours:g} h before {as_of:%FT%TZ}"},
            )
        )
    checks.append(_Check("raw.touchpoints", sample, expectations))
    checks.append(_unique_ids(con, "raw.touchpoints", "event_id"))

    # raw.surveys
    sample = _frame(
        con,
        f"""select {", ".join(SURVEY_SCORES)}, emotion from raw.surveys
            order by occurred_at desc limit {RAW_SAMPLE_ROWS}""",  # noqa: S608
    )
    expectations = [_between(column, low, high) for column, (low, high) in SURVEY_SCORES.items()]
    expectations.append(_in_set("emotion", EMOTIONS))
    checks.append(_Check("raw.surveys", sample, expectations))
    checks.append(_unique_ids(con, "raw.surveys", "response_id"))
    return checks


def _mart_checks(con: duckdb.DuckDBPyConnection, missing: list[str]) -> list[_Check]:
    """Per mart of schema.yaml: unique grain, the range of each column marked `gate: true`, and its
    `gate_checks` (derived columns that must equal a column or stay within bounds)."""
    checks = []
    for model, spec in load_schema()["models"].items():
        if not table_exists(con, "marts", model):
            missing.append(f"marts.{model}: table missing (transforms not built?)")
            continue
        grain = list(spec["grain"])
        bounds = gate_bounds(spec)
        bounded = list(bounds)
        derived = gate_checks(spec)
        partners = [rule[1] for _, rule in derived.values() if rule[0] == "equals"]
        select = list(dict.fromkeys([*grain, *bounded, *partners]))
        select += [f"{sql} as {name}" for name, (sql, _) in derived.items()]
        # column names come from schema.yaml and this module, never from data
        frame = _frame(con, f"select {', '.join(select)} from marts.{model}")  # noqa: S608
        expectations: list[Any] = [gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=grain)]
        expectations += [_between(c, *bounds[c]) for c in bounded]
        for name, (sql, (kind, arg)) in derived.items():
            if kind == "equals":
                expectations.append(
                    gx.expectations.ExpectColumnPairValuesToBeEqual(
                        column_A=arg, column_B=name, meta={"check": f"{arg} = {sql}"}
                    )
                )
            else:
                expectations.append(_between(name, *arg, check=sql))
        checks.append(_Check(f"marts.{model}", frame, expectations))
    return checks


def _context() -> Any:
    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bound(value: Any, missing: str) -> str:
    if value is None:
        return missing
    return f"{value:g}" if isinstance(value, float) else str(value)


def _failure_line(suite: str, result: dict) -> str:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    kind = config.get("type", "?")
    if "column_list" in kwargs:
        target = "(" + ", ".join(kwargs["column_list"]) + ")"
    elif "column_A" in kwargs:
        target = f"{kwargs['column_A']} vs {kwargs['column_B']}"
    else:
        target = str(kwargs.get("column", "table"))
    bounds = ""
    if "min_value" in kwargs or "max_value" in kwargs:
        bounds = f" [{_bound(kwargs.get('min_value'), '-inf')}, {_bound(kwargs.get('max_value'), 'inf')}]"
    meta = config.get("meta") or {}
    note = f" ({meta['check']})" if meta.get("check") else ""
    outcome = result.get("result") or {}
    error = (result.get("exception_info") or {}).get("exception_message")
    if error:
        observed = f"error: {error}"
    elif "observed_value" in outcome:
        observed = f"observed {outcome['observed_value']}"
    elif meta.get("aggregate"):  # a one-row frame of full-table aggregates
        observed = f"observed {_short(outcome.get('partial_unexpected_list', [None])[0])}"
    else:
        observed = (
            f"{outcome.get('unexpected_count')} of {outcome.get('element_count')} rows unexpected, "
            f"e.g. {_short(outcome.get('partial_unexpected_list', [])[:5])}"
        )
    return f"{suite}: {kind} on {target}{bounds}{note}: {observed}"


def run_gates(
    con: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: datetime, max_age_hours: float = 48
) -> GateResult:
    """Validate raw tables and marts; write the GX results as JSON and return the failures."""
    as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    skipped: list[dict] = []
    failures: list[str] = []
    checks = _raw_checks(con, as_of, max_age_hours, skipped) + _mart_checks(con, failures)

    context = _context()
    source = context.data_sources.add_pandas("cxpulse")
    validations = []
    for check in checks:
        batch_definition = source.add_dataframe_asset(check.suite).add_batch_definition_whole_dataframe("all")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": check.frame})
        suite = gx.ExpectationSuite(name=check.suite, expectations=check.expectations)
        outcome = batch.validate(suite).to_json_dict()
        outcome["meta"]["rows_validated"] = len(check.frame)
        validations.append(outcome)
        failures += [_failure_line(check.suite, r) for r in outcome["results"] if not r["success"]]

    report = {
        "as_of": as_of.isoformat(),
        "max_age_hours": max_age_hours,
        "raw_sample_rows": RAW_SAMPLE_ROWS,
        "passed": not failures,
        "failures": failures,
        "skipped": skipped,
        "validations": validations,
    }
    path = settings.reports_dir / "quality" / f"gates-{as_of:%Y%m%dT%H%M%SZ}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=str))
    log.info("quality gates as of %s: %d failures, report %s", as_of.isoformat(), len(failures), path)
    return GateResult(passed=not failures, failures=failures, report_path=path)
