"""The dashboard in a real headless Chromium: loads without console errors, shows the marts' values
(the last complete week on the tiles, the week to date beside them marked partial, a trend line each),
the NPS chart with its axes and n, the four-dimension radar with its labels and n, switches language,
escapes text from events. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import dataclasses
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from cxpulse.pipeline import load_step, publish_step, transform_step
from tests.sample import generate
from warehouse.dashboard import format_value

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EVIL = "<img src=x onerror=\"document.title='pwned'\">"


def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromedriver are missing: `make browser` installs them (make test runs it)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1800",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(options=options, service=Service(driver))


def build_warehouse(settings: Settings, land) -> None:
    sample = generate(customers=600, seed=9, with_malformed=False)
    touchpoints = [
        m.replace(b'"delivery_delay"', b'"' + EVIL.replace('"', '\\"').encode() + b'"') for m in sample.touchpoints
    ]
    land(settings, "touchpoints", touchpoints)
    land(settings, "surveys", sample.surveys)
    load_step(settings)
    transform_step(settings)
    publish_step(settings)


def test_dashboard_in_headless_chromium(tmp_path: Path, land) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    build_warehouse(settings, land)
    page = settings.reports_dir / "dashboard.html"
    html = page.read_text()
    assert "<script src" not in html and "http://" not in html.split("<script>")[0]  # self-contained
    assert EVIL not in html and "&lt;img src=x" in html  # text from events is escaped

    con = duckdb.connect(str(settings.published_path), read_only=True)
    # The sample ends today: the week holding the latest day is not over (week to date); the tiles show
    # the week before it, the last complete one.
    latest = con.execute("select max(day) from marts.kpi_service_daily").fetchall()[0][0]
    current = latest - timedelta(days=latest.weekday())
    complete = current - timedelta(days=7)

    def week_values(start: date) -> dict[str, tuple[str, int]]:
        rows = con.execute(
            "select kpi, value, unit, n from marts.progress_dashboard where period_type = 'week' and scope = 'all' "
            "and period_start = ?",
            [start],
        ).fetchall()
        return {kpi: (format_value(value, unit), n) for kpi, value, unit, n in rows}

    expected, to_date = week_values(complete), week_values(current)
    assert expected and to_date
    # the radar: the last complete month, or the month to date while the sample holds no earlier month
    # (the sample covers the 14 days before today)
    before = date(latest.year - (latest.month == 1), 12 if latest.month == 1 else latest.month - 1, 1)
    radar = (
        "select dimension, n from marts.experience_dimensions where period_type = 'month' and scope = 'all' "
        "and period_start = ?"
    )
    dimensions = dict(con.execute(radar, [before]).fetchall()) or dict(
        con.execute(radar, [latest.replace(day=1)]).fetchall()
    )
    journeys = {
        r[0]
        for r in con.execute(
            # the journey view shows the last complete month (ended by today), else the month to date
            "select distinct journey from marts.journey_steps where period_type = 'month' and period_start = "
            "coalesce((select max(period_start) from marts.journey_steps where period_type = 'month' "
            "and period_start + interval 1 month <= current_date), "
            "(select max(period_start) from marts.journey_steps where period_type = 'month'))"
        ).fetchall()
    }
    con.close()
    assert set(dimensions) == {"relational", "service", "experiential", "emotional"}

    driver = browser()
    try:
        driver.get(page.as_uri())
        from selenium.webdriver.common.by import By

        tiles = {t.get_attribute("data-kpi"): t for t in driver.find_elements(By.CLASS_NAME, "tile")}
        assert {k: t.find_element(By.CLASS_NAME, "value").text for k, t in tiles.items()} == {
            k: v for k, (v, _) in expected.items()
        }
        for kpi, tile in tiles.items():
            # the week to date beside the complete week, marked partial, with its own value and n
            beside = tile.find_element(By.CLASS_NAME, "to-date")
            assert beside.get_attribute("data-period") == str(current)
            value, n = to_date[kpi]
            assert beside.text == f"WEEK TO DATE (partial, from {current}): {value} · n = {n}", kpi
            # a trend line over the complete weeks (the sample holds two or three of them)
            assert tile.find_element(By.CSS_SELECTOR, "svg.spark polyline").is_displayed()
        header = driver.find_element(By.CSS_SELECTOR, "header .muted").text
        assert f"Last complete week: starting {complete}" in header and f"from {current} (partial)" in header
        # the NPS chart: a y axis in points, ticks, n under the weeks, the week to date marked
        chart = driver.find_element(By.ID, "nps-chart")
        texts = [t.text for t in chart.find_elements(By.TAG_NAME, "text")]
        assert "NPS (points, −100…+100)" in texts and any(t.startswith("n=") for t in texts)
        assert any(t.endswith("*") for t in texts) and len(chart.find_elements(By.CSS_SELECTOR, ".point.partial")) == 1
        # the radar: four labelled axes, each with its n
        radar = driver.find_element(By.ID, "radar")
        labels = {
            g.get_attribute("data-dimension"): g.text for g in radar.find_elements(By.CSS_SELECTOR, "g.axis-label")
        }
        assert set(labels) == set(dimensions)
        for dimension, n in dimensions.items():
            assert labels[dimension].endswith(f"n = {n}"), labels[dimension]
        assert labels["service"].startswith("Service\n")
        # the journey view: one funnel per journey of the latest month, with its axes, units and n
        section = driver.find_element(By.ID, "journeys")
        shown = {h.get_attribute("data-journey") for h in section.find_elements(By.TAG_NAME, "h3")}
        assert journeys and shown == journeys
        charts = section.find_elements(By.CSS_SELECTOR, "svg.journey")
        assert len(charts) == len(journeys) and all(c.size["height"] > 100 for c in charts)
        assert "journeys entered (n)" in charts[0].text and "drop-off" in charts[0].text
        label = driver.find_element(By.CSS_SELECTOR, '[data-kpi="answer_rate"] .label')
        assert label.text == "Answer rate"
        first_channel = driver.find_elements(By.CSS_SELECTOR, "#channels tr")[1].find_elements(By.TAG_NAME, "td")
        answer_rate_en = first_channel[2].text  # e.g. "87.4 %"
        assert re.fullmatch(r"\d+\.\d %", answer_rate_en), answer_rate_en
        driver.find_element(By.ID, "lang").click()
        assert label.text == "Taux de décroché"
        # numbers of the tables in French too: decimal comma, the same value
        assert first_channel[2].text == answer_rate_en.replace(".", ","), first_channel[2].text
        assert driver.find_element(By.TAG_NAME, "h1").text == "Tableau de bord du progrès continu"
        assert "Relationnelle" in radar.text and "SEMAINE EN COURS" in tiles["nps"].text
        assert driver.title != "pwned"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
