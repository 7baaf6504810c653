"""Terminal tables print text from events as text: Rich markup in a touchpoint name or a message is not
interpreted (a closing tag "[/]" with nothing open used to crash `cxpulse alerts`)."""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from cxpulse.config import Settings
from cxpulse.pipeline import load_step, transform_step
from cxpulse.views import alerts_table, incidents_table, kpi_table
from quality import alerts, incidents
from tests.builders import finding, incident
from tests.sample import generate
from warehouse.db import connect

T0 = datetime(2026, 3, 16, 6, tzinfo=UTC)
HOSTILE = "touchpoint:[/][bold red]app[/bold red]"


def render(table) -> str:
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(table)
    return out.getvalue()


def test_alerts_and_incidents_tables_print_markup_from_events_verbatim(tmp_path: Path) -> None:
    con = connect(tmp_path / "cx.duckdb")
    message, message_fr = f"NPS fell on {HOSTILE} [/]", "Le NPS a baissé [/]"
    fell = finding(scope=HOSTILE, severity="critical", message=message, message_fr=message_fr, dedupe_key="k")
    alerts.apply(con, [fell], T0, {"nps_shift"})
    text = render(alerts_table(con, only_open=True, french=False, limit=10, title="alerts"))
    assert f"NPS fell on {HOSTILE} [/]" in text
    incidents.ensure_table(con)
    headline = "NPS −15 points [/]"
    incidents._insert(con, incident("i", at=T0, root_scope=HOSTILE, headline=headline, headline_fr=headline))
    text = render(incidents_table(con, only_open=True, french=True, limit=10, title="incidents"))
    assert "le point de contact [/][bold red]app[/bold red]" in text and "NPS −15 points [/]" in text
    assert "part expliquée" in text and "90 %" in text and "ouvert" in text and "critique" in text
    con.close()


def test_french_alerts_table_has_french_headers_scopes_and_puts_drift_before_hot_answers(tmp_path: Path) -> None:
    con = connect(tmp_path / "cx.duckdb")
    base = {"kpi": "nps", "message": "m", "message_fr": "m"}
    findings = [
        alerts.Candidate(rule="detractor_complaint", severity="critical", scope="touchpoint:web_chat",
                         dedupe_key="detractor_complaint|r1", **base),
        alerts.Candidate(rule="nps_shift", severity="warning", scope="all", dedupe_key="nps_shift|nps|all", **base),
    ]  # fmt: skip
    alerts.apply(con, findings, T0, set())
    text = render(alerts_table(con, only_open=True, french=True, limit=10, title="alertes"))
    header = text.splitlines()[2]
    assert [h.strip() for h in header.strip("│┃ ").split("┃")] == [
        "statut", "gravité", "règle", "périmètre", "première alerte", "message",
    ]  # fmt: skip
    drift, hot = (line for line in text.splitlines() if "ouvert" in line)
    assert "avertissement" in drift and "ensemble" in drift
    assert "critique" in hot and "point de contact chat du site web" in hot
    con.close()


def test_french_kpi_table_has_french_headers_numbers_and_statuses(tmp_path: Path, land) -> None:
    settings = dataclasses.replace(Settings(), home=tmp_path)
    sample = generate(customers=400, seed=5, with_malformed=False)
    land(settings, "touchpoints", sample.touchpoints)
    land(settings, "surveys", sample.surveys)
    load_step(settings)
    transform_step(settings)
    con = connect(settings.warehouse_path)
    english, french = render(kpi_table(con, french=False)), render(kpi_table(con, french=True))
    statuses = {r[0] for r in con.execute("select distinct status from marts.progress_dashboard").fetchall()}
    assert "Answer rate" in english and "Taux de décroché" in french
    assert any(s in english for s in statuses)
    # every status word of the French table is French: vert / orange / rouge / pas de données
    french_words = {"green": "vert", "amber": "orange", "red": "rouge", "no_data": "pas de données"}
    assert any(french_words[s] in french for s in statuses)
    assert not any(f" {s} " in french for s in statuses - {"no_data"})
    assert re.search(r"\d,\d %", french) and not re.search(r"\d\.\d %", french)  # 87,4 % in French
