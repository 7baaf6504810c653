from __future__ import annotations

import re
from importlib import resources

import pytest

from transforms import catalogue
from transforms.docs import DOC_PATH, render_warehouse_doc
from transforms.runner import load_schema


def test_warehouse_doc_is_up_to_date() -> None:
    assert DOC_PATH.read_text() == render_warehouse_doc(), "docs/warehouse.md is stale: python -m transforms.docs"


def test_every_catalogue_kpi_is_computed_by_the_dashboard_and_nothing_else() -> None:
    sql = resources.files("transforms").joinpath("marts", "progress_dashboard.sql").read_text()
    computed = set(re.findall(r"'([a-z0-9_]+)'(?: as kpi)?, ", sql)) - {"week", "month", "all", "channel:"}
    assert computed == set(catalogue.load_catalogue())


def test_schema_documents_every_column_of_every_mart(tmp_path) -> None:
    import dataclasses

    from cxpulse.config import Settings
    from transforms.runner import build
    from warehouse.db import connect

    settings = dataclasses.replace(Settings(), home=tmp_path)
    con = connect(settings.warehouse_path)
    build(con, settings)  # empty marts still have their columns
    for model, spec in load_schema()["models"].items():
        columns = [
            r[0]
            for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = ? order by ordinal_position",
                [model],
            ).fetchall()
        ]
        assert columns == list(spec["columns"]), model


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"unit": "parsecs"}, "unit must be one of ratio"),
        ({"higher_is_better": "yes"}, "higher_is_better must be true or false"),
        ({"min_n": -1}, "min_n must be a number >= 0"),
        ({"colour": "red"}, "unknown keys \\['colour'\\]"),
        ({"target": "high"}, "key 'target': target must be a number"),
        ({"source": "kpi_service_daily"}, "key 'source': source must be <mart>.<column>"),
        ({"source": "kpi_nowhere.x"}, "key 'source': unknown mart 'kpi_nowhere'"),
        ({"source": "kpi_service_daily.nope"}, "key 'source': marts.kpi_service_daily has no column 'nope'"),
    ],
)
def test_catalogue_errors_name_the_kpi_and_key(entry: dict, message: str) -> None:
    good = {
        "label_en": "x",
        "label_fr": "x",
        "unit": "ratio",
        "higher_is_better": True,
        "target": 1,
        "tolerance": 0,
        "min_n": 1,
        "noise_band": 0,
        "min_effect": 0,
        "grain": "x",
        "source": "kpi_service_daily.answer_rate",
    }
    columns = {"kpi_service_daily": ["answer_rate"]}
    with pytest.raises(catalogue.CatalogueError, match=f"KPI 'k'.*{message}"):
        catalogue.parse({"kpis": {"k": {**good, **entry}}}, columns)


def test_catalogue_sources_are_documented_mart_columns() -> None:
    schema = load_schema()["models"]
    for kpi in catalogue.load_catalogue().values():
        assert kpi.source_column in schema[kpi.source_mart]["columns"], kpi.id
