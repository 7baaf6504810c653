"""The journey view: `cxpulse journeys` prints the funnel of the last complete period with its ruptures, and
the dashboard's SVG has its axes, units, n, the flags, and escapes step names from events."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cxpulse.cli import app
from cxpulse.config import Settings
from tests.transforms.test_journey_steps import _weeks, step
from transforms.runner import build
from warehouse.dashboard_journeys import collect_journeys, funnel_text, journey_svg
from warehouse.db import connect


def test_terminal_funnel_and_chart_of_a_planted_rupture(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    con = connect(settings.warehouse_path)
    _weeks(con, date(2026, 3, 2), 5, 120, [0.04, 0.04, 0.04, 0.04, 0.30], "r")
    step(con, "2026-03-31T10:00:00Z", "x", "<b>odd</b>", "ok")  # a step the map does not list, named by an event
    build(con, settings)
    con.close()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    data = collect_journeys(con, "week", "purchase", today=date(2026, 4, 30))
    con.close()
    assert (data["period_start"], data["complete"]) == (date(2026, 3, 30), True)
    (purchase,) = data["journeys"]
    assert [s["step"] for s in purchase["steps"]] == ["product_page", "cart", "checkout", "payment", "<b>odd</b>"]
    text = funnel_text(data)
    checkout = next(line for line in text.splitlines() if "Checkout" in line)
    # 120 entered, 84 ok, 36 failed, 0 abandoned, 84 continued, drop-off 30 %; flagged
    assert checkout.split()[:8] == ["3", "Checkout", "120", "84", "36", "0", "84", "30"]
    assert checkout.endswith("RUPTURE")
    assert "Validation de commande" in funnel_text(data, french=True)
    svg = journey_svg(purchase["steps"])
    assert "journeys entered (n)" in svg and "negative emotions (%)" in svg and "drop-off 30 %" in svg
    assert svg.count('class="funnel rupture"') == 1 and "<b>" not in svg and "&lt;b&gt;odd" in svg

    monkeypatch.setenv("CXPULSE_HOME", str(settings.home))
    result = CliRunner().invoke(app, ["journeys", "--scope", "purchase", "--period", "week", "--fr"])
    assert result.exit_code == 0, result.output
    assert "Parcours, semaine" in result.output and "Validation de commande" in result.output
    bad = CliRunner().invoke(app, ["journeys", "--period", "year"])
    assert bad.exit_code == 2 and "week, month" in bad.output


def test_no_journeys_yet(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    assert funnel_text(collect_journeys(con)) == "no journeys yet"
    con.close()
