"""The "levers" section of the dashboard and `cxpulse drivers`, on the hand-made fixture of
tests/transforms/test_drivers.py (min_n 2, so that its five answers make rows)."""

from __future__ import annotations

import re

import duckdb
import pytest
from typer.testing import CliRunner

from cxpulse.cli import app
from cxpulse.config import Settings
from tests.builders import built_warehouse
from tests.transforms.test_drivers import load_fixture, settings_with
from transforms import drivers
from warehouse.dashboard import render
from warehouse.dashboard_levers import collect_levers


@pytest.fixture
def con(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.setattr(drivers, "load_drivers", lambda: settings_with(min_n=2, bootstrap_samples=50))
    yield from built_warehouse(settings, load_fixture)


def test_quadrant_chart_has_axes_units_n_and_an_error_bar_per_lever(con) -> None:
    levers = collect_levers(con)
    assert str(levers["month"]) == "2026-03-01"
    outcomes = {o["outcome"]: o for o in levers["outcomes"]}
    assert set(outcomes) == {"nps", "csat"}
    nps = outcomes["nps"]
    svg = str(nps["svg"])
    assert len(re.findall(r'<g class="lever"', svg)) == len(nps["rows"]) == 9
    # per lever: one vertical bar and its two caps, and the point
    assert svg.count("<circle") == 9 and svg.count('stroke-width="1.5"') == 9
    assert "performance" in svg and "% of NPS variance" in svg and "100 %" in svg
    n = max(r["n"] for r in nps["rows"])
    assert f"n = {n} answers" in svg and "R² =" in svg and "95 % interval" in svg
    # the rows are the month's, most important first
    importances = [r["importance"] for r in nps["rows"]]
    assert importances == sorted(importances, reverse=True)


def test_dashboard_includes_the_levers_section(con) -> None:
    html = render(con)
    assert 'id="levers"' in html and 'class="levers"' in html
    assert "First-contact resolution" in html and "Résolution au premier contact" in html


def test_cli_prints_the_drivers_and_names_unknown_scopes(
    con, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    con.execute("checkpoint")
    con.close()
    monkeypatch.setenv("CXPULSE_HOME", str(settings.home))
    runner = CliRunner()
    result = runner.invoke(app, ["drivers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "month starting 2026-03-01, scope all" in result.output
    assert "First-contact resolution" in result.output and "NPS" in result.output and "CSAT" in result.output
    french = runner.invoke(
        app, ["drivers", "--fr", "--period", "week", "--scope", "channel:phone"], env={"COLUMNS": "200"}
    )
    assert french.exit_code == 0, french.output
    assert "semaine du 2026-03-09, périmètre channel:phone" in french.output
    # numbers as the rest of the French terminal writes them (streams.formatting): 12,3 %, not 12.3 %
    assert re.search(r"\d,\d %", french.output) and not re.search(r"\d\.\d %", french.output)
    assert re.search(r"\d\.\d %", result.output)
    wrong = runner.invoke(app, ["drivers", "--scope", "channel:fax"])
    assert wrong.exit_code == 2
    assert "channel:fax" in wrong.output and "channel:phone" in wrong.output


def test_drivers_are_in_the_published_snapshot_and_the_parquet_exports(con, settings: Settings) -> None:
    from warehouse.publish import export_parquet, publish_snapshot

    rows = con.execute("select count(*) from marts.drivers").fetchall()[0][0]
    assert rows > 0
    snapshot = publish_snapshot(con, settings)
    exports = export_parquet(con, settings)
    published = duckdb.connect(str(snapshot), read_only=True)
    try:
        assert published.execute("select count(*) from marts.drivers").fetchall() == [(rows,)]
    finally:
        published.close()
    parquet = next(p for p in exports if p.name == "marts.drivers.parquet")
    assert duckdb.execute(f"select count(*) from '{parquet}'").fetchall() == [(rows,)]
