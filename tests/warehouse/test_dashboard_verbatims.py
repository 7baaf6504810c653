"""The dashboard's top irritants: ranked by negative mentions (volume x negativity) per channel, with the trend
against the week before; example verbatims only behind config verbatim_examples, escaped."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxpulse.config import Settings
from transforms.runner import build
from warehouse.dashboard import render
from warehouse.dashboard_verbatims import collect_verbatims
from warehouse.db import connect

MONDAY = datetime(2026, 3, 9, 10, tzinfo=UTC)
# (text, channel, answers in the week before, answers in the latest week)
ANSWERS = (
    ("Facture fausse, c'est inadmissible <b>!</b>", "phone", 2, 6),  # billing, negative: 6 negative mentions
    ("Application qui plante, c'est nul", "chat", 4, 4),  # digital, negative: 4, flat
    ("Conseiller très aimable, merci", "phone", 1, 8),  # staff_attitude, positive: 0 negatives despite volume
)


@pytest.fixture
def con(tmp_path: Path):
    settings = dataclasses.replace(Settings(), home=tmp_path)
    con = connect(settings.warehouse_path)
    rows = []
    for text, channel, before, now in ANSWERS:
        for week, count in ((-7, before), (0, now)):
            for k in range(count):
                at = MONDAY + timedelta(days=week, hours=k)
                rows.append((f"r{len(rows)}", at, f"c{len(rows)}", channel, text))
    con.executemany(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "language, payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values (?, ?, ?, ?, 'q', 'post_contact', 5, ?, 'fr', '{}', 't', 0, 0, now())",
        rows,
    )
    con.execute("insert or ignore into ops.dirty_days select distinct cast(occurred_at as date) from raw.surveys")
    build(con, settings)
    return con


def test_irritants_ranked_by_negative_mentions_with_trend(con) -> None:
    data = collect_verbatims(con, examples=False)
    assert str(data["irritant_week"]) == "2026-03-09"
    top = [(r["topic"], r["negatives"], r["mentions"], r["trend"]) for r in data["irritants"]["all"]]
    assert top[:2] == [("billing", 6, 6, "up"), ("digital", 4, 4, "flat")]
    assert ("staff_attitude", 0, 8, "up") in top  # much talked about, not an irritant: ranked below
    assert [r["topic"] for r in data["irritants"]["chat"]] == ["digital"]
    assert all(not r["examples"] for rows in data["irritants"].values() for r in rows)


def test_examples_only_behind_the_config_switch_and_escaped(con, monkeypatch) -> None:
    monkeypatch.delenv("CXPULSE_VERBATIM_EXAMPLES", raising=False)
    html = render(con)
    assert 'id="irritants"' in html and "Facturation" in html and "Billing" in html
    assert "Facture fausse" not in html
    monkeypatch.setenv("CXPULSE_VERBATIM_EXAMPLES", "dashboard")
    html = render(con)
    assert "Facture fausse, c&#39;est inadmissible &lt;b&gt;!&lt;/b&gt;" in html
    assert "<b>!</b>" not in html
