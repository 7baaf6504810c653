"""Builders for what many tests write into a warehouse: a finding (a row of marts.alerts), an incident,
a target digest, warehouse connections built from a test's own fixture, and simulated survey answers.

Every value a test's assertions depend on is still written in the test: a builder only fills the
fields a test does not name, with the values written here."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cxpulse.config import Settings
from quality import notifications
from quality.drift import RULES
from streams.alert_contract import Alert, DigestItem, Incident, TargetDigest, encode
from transforms.runner import build, create_views
from warehouse.db import connect


def finding(
    kpi: str | None = "nps",
    scope: str = "channel:chat",
    moved: tuple[float, float, int, int] | None = None,
    *,
    at: datetime | None = None,
    **fields: Any,
) -> Alert:
    """A finding on `kpi` and `scope`: the rule of the KPI (quality.drift.RULES), severity warning, messages
    "m", dedupe key `rule|kpi|scope`; `moved` = (baseline_value, current_value, n_current, n_baseline);
    `at` = window start and end. `fields` set any other field, or override these."""
    values: dict[str, Any] = {"rule": RULES.get(kpi or ""), "severity": "warning", "kpi": kpi, "scope": scope}
    values |= {"message": "m", "message_fr": "m", "window_start": at, "window_end": at}
    if moved is not None:
        values |= dict(zip(("baseline_value", "current_value", "n_current", "n_baseline"), moved, strict=True))
    values |= fields
    values.setdefault("dedupe_key", f"{values['rule']}|{kpi}|{scope}")
    return Alert(**values)


def incident(incident_id: str = "inc-1", *, at: datetime, **fields: Any) -> Incident:
    """An open critical incident on the chat channel's NPS (opened and last seen `at`, explained share 0.9,
    one finding, headline "h"). `fields` override any of these."""
    values: dict[str, Any] = {"status": "open", "severity": "critical", "opened_at": at, "last_seen_at": at}
    values |= {"root_scope": "channel:chat", "explained_share": 0.9, "kpis": ["nps"], "alerts": 1}
    values |= {"headline": "h", "headline_fr": "h"}
    return Incident(incident_id=incident_id, **values | fields)


def record_answer_rate_digest(con: duckdb.DuckDBPyConnection, at: datetime, scope: str = "all") -> None:
    """One weekly target digest (week of 2026-03-09) in marts.notifications, recorded `at`: the answer
    rate of `scope` at 80 % for a 90 % target on 500 calls, red since 2026-03-02, trending down."""
    con.execute(notifications.DDL)
    item = DigestItem(kpi="answer_rate", scope=scope, label_en="Answer rate", label_fr="Taux de décroché",
                      value=0.8, target=0.9, unit="ratio", n=500, red_since="2026-03-02", trend="down")  # fmt: skip
    digest = TargetDigest(
        message="m", message_fr="m", digest_id="d", period_type="week", period_start="2026-03-09", items=[item]
    )
    notifications._record(con, "d", "digest", "d", "digest", "warning", at, "m", "m", encode(digest))


def staged_warehouse(
    path: Path, load: Callable[[duckdb.DuckDBPyConnection], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """For a fixture (`yield from staged_warehouse(tmp_path / "cx.duckdb")`): a warehouse at `path` with
    the staging views (no marts) and the events `load` writes, closed after the test."""
    connection = connect(path)
    create_views(connection)
    if load is not None:
        load(connection)
    yield connection
    connection.close()


def landed(n: int, at: datetime, topic: str = "t") -> dict[str, list]:
    """The landing columns of `n` raw rows (payload "{}", partition 0, offsets 0 to n - 1), loaded `at`."""
    return {"payload": ["{}"] * n, "kafka_topic": [topic] * n, "kafka_partition": [0] * n,
            "kafka_offset": list(range(n)), "loaded_at": [at] * n}  # fmt: skip


def built_warehouse(
    settings: Settings, load: Callable[[duckdb.DuckDBPyConnection], None]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """For a fixture (`yield from built_warehouse(settings, load_fixture)`): the warehouse of `settings`
    with the events `load` writes, staging and marts built, closed after the test."""
    connection = connect(settings.warehouse_path)
    load(connection)
    build(connection, settings)
    yield connection
    connection.close()


SURVEY_COLUMNS = (
    "response_id", "occurred_at", "customer_id", "channel", "touchpoint", "segment", "survey",
    "nps", "csat", "ces", "payload", "kafka_topic", "kafka_partition", "kafka_offset", "loaded_at",
)  # fmt: skip


class SurveyAnswers:
    """Columns of raw.surveys for answers drawn at random from `rng` (post-contact surveys, `start` = day 0).

    The order of the draws is part of the data (the tests' expected numbers depend on it), so a caller
    draws what it varies (channel, touchpoint, segment, score) where it always did, and `add` draws the
    rest in this order: the second of the day, the customer, the touchpoint when given a list to draw
    from, then CSAT and CES from the score."""

    def __init__(self, rng: random.Random, seed: int, start: datetime) -> None:
        self.rng, self.seed, self.start = rng, seed, start
        self.columns: dict[str, list] = {name: [] for name in SURVEY_COLUMNS}

    def add(self, i: int, day: int, channel: str, touchpoint: str | list[str], segment: str, nps: int) -> None:
        """Answer number `i` on `day`; a list of touchpoints is drawn from after the customer."""
        at = self.start + timedelta(days=day, seconds=self.rng.randrange(86400))
        customer = f"c{self.rng.randrange(10**6)}"
        touchpoint = self.rng.choice(touchpoint) if isinstance(touchpoint, list) else touchpoint
        csat = min(5, max(1, round(nps / 2.2 + self.rng.gauss(0, 0.7))))
        ces = min(7, max(1, round(nps * 0.6 + 1 + self.rng.gauss(0, 1))))
        row = (f"r-{self.seed}-{i}", at, customer, channel, touchpoint, segment, "post_contact", nps, csat, ces)
        for name, value in zip(SURVEY_COLUMNS, (*row, "{}", "t", 0, i, self.start), strict=True):
            self.columns[name].append(value)

    def insert(self, con: duckdb.DuckDBPyConnection) -> None:
        answers = pa.table(self.columns)  # noqa: F841 - read by DuckDB replacement scan below
        con.execute("insert into raw.surveys by name select * from answers")
