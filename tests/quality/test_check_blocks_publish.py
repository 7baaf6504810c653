"""A failing quality gate raises a data_quality alert and keeps the last good snapshot published."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from cxpulse.pipeline import run_once
from quality.check import QualityGateError
from tests.sample import generate


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_failing_gate_blocks_publishing_and_raises_data_quality(settings: Settings, land) -> None:
    settings = dataclasses.replace(settings, kafka_bootstrap="localhost:1")  # no broker: alerts stay pending
    sample = generate(customers=300, seed=4, with_malformed=False)
    land(settings, "touchpoints", sample.touchpoints)
    land(settings, "surveys", sample.surveys)
    first = run_once(settings)
    good = digest(first.snapshot)

    # A row that breaks the survey contract reaches raw.surveys (e.g. loaded by hand during an incident).
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "insert into raw.surveys by name select * replace (response_id || '-bad' as response_id, "
        "cast(11 as smallint) as nps) from raw.surveys limit 1"
    )
    con.close()
    with pytest.raises(QualityGateError, match="nps"):
        run_once(settings)
    assert digest(settings.published_path) == good  # BI tools keep the last good snapshot

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    rows = con.execute(
        "select rule, severity, status, message from marts.alerts where rule = 'data_quality'"
    ).fetchall()
    con.close()
    assert len(rows) == 1
    rule, severity, status, message = rows[0]
    assert (severity, status) == ("critical", "open") and "not published" in message and "nps" in message
