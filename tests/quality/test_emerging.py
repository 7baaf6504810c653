"""Emerging verbatim topics: a rise that must fire, stable topics and small samples that must not, examples only
when config allows, and the alert joining the incident of its scope."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from quality import alerts, emerging, incidents
from quality.drift import Windows
from tests.builders import finding
from transforms.runner import build
from warehouse.db import connect

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
APP = "L'application plante au moment du paiement, impossible de me connecter"
OTHER = (
    "Livraison en avance, colis en parfait état",
    "Conseiller très aimable, merci",
    "Facture claire, rien à redire",
    "Temps d'attente raisonnable",
)


def write_answers(con: duckdb.DuckDBPyConnection, app_share: dict[str, tuple[float, float]], seed: int = 1) -> None:
    """35 days of answers with verbatims on three channels; `app_share[channel]` = (share of app complaints in
    the 28 baseline days, share in the last 7)."""
    rng = random.Random(seed)
    rows = []
    for day in range(35):
        current = day >= 28
        for channel in ("phone", "chat", "web"):
            for k in range(40):
                share = app_share.get(channel, (0.04, 0.04))[current]
                text = APP if rng.random() < share else rng.choice(OTHER)
                at = AS_OF - timedelta(days=35 - day) + timedelta(minutes=30 * k + 1)
                rows.append(
                    (f"r{day}-{channel}-{k}", at, f"c{day}-{channel}-{k}", channel, "q", "post_contact", 7, text)
                )
    con.executemany(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "language, payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, 'fr', '{}', 't', 0, 0, now())",
        rows,
    )
    con.execute("insert or ignore into ops.dirty_days select distinct cast(occurred_at as date) from raw.surveys")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings(), home=tmp_path)


def run_detection(con: duckdb.DuckDBPyConnection, settings: Settings) -> list[emerging.TopicTest]:
    build(con, settings)
    return emerging.detect(con, Windows.ending(AS_OF, 7, 28))


def test_a_topic_rising_on_one_channel_fires_there(settings: Settings) -> None:
    con = connect(settings.warehouse_path)
    write_answers(con, {"chat": (0.04, 0.30)})
    tests = run_detection(con, settings)
    firing = {(t.measure, t.topic, t.scope) for t in tests if t.fires}
    assert ("topic_mentions", "digital", "channel:chat") in firing
    assert not any(scope in ("channel:phone", "channel:web") for _, _, scope in firing)
    chat = next(t for t in tests if (t.measure, t.topic, t.scope) == ("topic_mentions", "digital", "channel:chat"))
    # 280 chat answers a week: ~30 % mention the app against ~4 % over 1,120 answers before
    assert chat.current.n == 280 and chat.baseline.n == 1120
    assert chat.current_value > 0.2 and chat.baseline_value < 0.07 and chat.q_value <= 0.001
    found = emerging.candidates(con, settings, Windows.ending(AS_OF, 7, 28), tests)
    assert found and all(c.rule == "emerging_topic" for c in found)
    alert = next(c for c in found if c.scope == "channel:chat" and c.kpi == "topic_mentions:digital")
    assert "Digital channels" in alert.message and "Parcours digital" in alert.message_fr
    assert "plante" not in alert.message  # no verbatim unless config verbatim_examples allows


def test_examples_only_when_the_config_allows(settings: Settings) -> None:
    con = connect(settings.warehouse_path)
    write_answers(con, {"chat": (0.04, 0.30)})
    tests = run_detection(con, settings)
    windows = Windows.ending(AS_OF, 7, 28)
    shown = dataclasses.replace(settings, verbatim_examples="alerts")
    alert = next(c for c in emerging.candidates(con, shown, windows, tests) if c.scope == "channel:chat")
    assert "L'application plante" in alert.message and "Exemples" in alert.message_fr
    dashboard_only = dataclasses.replace(settings, verbatim_examples="dashboard")
    assert all("plante" not in c.message for c in emerging.candidates(con, dashboard_only, windows, tests))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stable_topics_raise_nothing(settings: Settings, seed: int) -> None:
    con = connect(settings.warehouse_path)
    write_answers(con, {}, seed)
    assert [t for t in run_detection(con, settings) if t.fires] == []


def test_a_rise_on_a_few_answers_raises_nothing(settings: Settings) -> None:
    con = connect(settings.warehouse_path)
    con.execute(
        "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, verbatim, "
        "payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) select 'r' || i, ?::timestamptz - "
        "to_days(i % 3), 'c' || i, 'chat', 'q', 'post_contact', 2, ?, '{}', 't', 0, 0, now() from range(8) t(i)",
        [AS_OF - timedelta(hours=1), APP],
    )
    con.execute("insert or ignore into ops.dirty_days select distinct cast(occurred_at as date) from raw.surveys")
    tests = run_detection(con, settings)
    assert tests and not any(t.fires for t in tests)
    assert {t.reason for t in tests} == {"n below min_n 200", "n below min_n 30"}


def test_the_alert_joins_the_incident_of_its_scope_or_opens_its_own(settings: Settings) -> None:
    con = connect(settings.warehouse_path)
    write_answers(con, {"chat": (0.04, 0.30)})
    windows = Windows.ending(AS_OF, 7, 28)
    found = emerging.candidates(con, settings, windows, run_detection(con, settings))
    alerts.apply(con, found, AS_OF, {emerging.RULE})
    transitions = incidents.update(con, settings, windows, [], AS_OF)
    opened = [t for t in transitions if t.event == "opened"]
    assert opened and all(t.incident.root_kpi == "emerging_topic" for t in opened)
    assert {m.rule for t in opened for m in t.findings} == {"emerging_topic"}
    chat = next(t for t in opened if t.incident.root_scope == "channel:chat")
    assert chat.incident.headline.startswith("Emerging topic on channel:chat")


def test_a_drift_incident_names_the_emerging_topics_of_its_scope() -> None:
    from quality import wording

    nps = finding(moved=(30.0, 12.0, 400, 1600), severity="critical", message="NPS fell", message_fr="Le NPS a baissé")
    digital = "topic_mentions:digital"
    topic = finding(digital, rule="emerging_topic", message="Emerging topic", message_fr="Sujet émergent")
    group = incidents.Group(incidents.Root("channel:chat", None, None, None, None), "nps", [nps, topic])
    en, fr = wording.headline(group, [nps, topic], incidents.LEVERS)
    assert en.startswith("Net Promoter Score")
    assert en.endswith("Emerging topics in verbatims: Digital channels (app, website).")
    assert fr.endswith("Sujets émergents des verbatims : Parcours digital (appli, site).")
    assert "topic_mentions" not in en + fr
