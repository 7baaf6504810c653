"""The dashboard in a real headless Chromium: loads without console errors, shows the marts' values,
switches language, escapes text from events. A screenshot is kept in test-artifacts/."""

from __future__ import annotations

import dataclasses
import shutil
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
    latest = con.execute(
        "select max(period_start) from marts.progress_dashboard where period_type = 'week'"
    ).fetchall()[0][0]
    expected = {
        kpi: format_value(value, unit)
        for kpi, value, unit in con.execute(
            "select kpi, value, unit from marts.progress_dashboard where period_type = 'week' and scope = 'all' "
            "and period_start = ?",
            [latest],
        ).fetchall()
    }
    con.close()

    driver = browser()
    try:
        driver.get(page.as_uri())
        from selenium.webdriver.common.by import By

        tiles = {
            t.get_attribute("data-kpi"): t.find_element(By.CLASS_NAME, "value").text
            for t in driver.find_elements(By.CLASS_NAME, "tile")
        }
        assert tiles == expected
        label = driver.find_element(By.CSS_SELECTOR, '[data-kpi="answer_rate"] .label')
        assert label.text == "Answer rate"
        driver.find_element(By.ID, "lang").click()
        assert label.text == "Taux de décroché"
        assert driver.find_element(By.TAG_NAME, "h1").text == "Tableau de bord du progrès continu"
        assert driver.title != "pwned"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    finally:
        driver.quit()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
