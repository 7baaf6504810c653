"""The KPI catalogue says which KPIs are service levers and how touchpoints and segments are named in French."""

from __future__ import annotations

import pytest

from quality import incidents
from transforms.catalogue import CatalogueError, parse, parse_scope_names, scope_names, service_levers

ENTRY = {
    "label_en": "Answer rate",
    "label_fr": "Taux de décroché",
    "unit": "ratio",
    "higher_is_better": True,
    "target": 0.9,
    "tolerance": 0.05,
    "min_n": 100,
    "noise_band": 0.01,
    "min_effect": 0.03,
    "grain": "contacts offered",
    "source": "kpi_service_daily.answer_rate",
}


def test_the_service_levers_are_the_catalogues_and_incidents_read_them_there() -> None:
    # wait (service level, answer rate), FCR and handling time: docs/alerts.md, issue 14 item 2
    assert service_levers() == {"answer_rate", "service_level", "fcr_rate", "aht_s"}
    assert incidents.LEVERS == service_levers()


def test_service_lever_is_optional_and_must_be_a_boolean() -> None:
    assert parse({"kpis": {"answer_rate": ENTRY}})["answer_rate"].service_lever is False
    assert parse({"kpis": {"answer_rate": {**ENTRY, "service_lever": True}}})["answer_rate"].service_lever
    with pytest.raises(CatalogueError, match="KPI 'answer_rate', key 'service_lever'"):
        parse({"kpis": {"answer_rate": {**ENTRY, "service_lever": "yes"}}})


def test_french_scope_names_come_from_the_catalogue_and_are_checked() -> None:
    names = scope_names()
    assert names["segment"]["residential"] == "particuliers"
    assert names["touchpoint"]["web_chat"] == "chat du site web"
    assert "channel" not in names  # the event contract's channels are named in streams.formatting
    assert parse_scope_names({"scope_names": {"segment": {"pro": "professionnels"}}}) == {
        "segment": {"pro": "professionnels"}
    }
    with pytest.raises(CatalogueError, match="scope_names, key 'queue'"):
        parse_scope_names({"scope_names": {"queue": {"a": "b"}}})
    with pytest.raises(CatalogueError, match="scope_names, segment 'pro'"):
        parse_scope_names({"scope_names": {"segment": {"pro": ""}}})
