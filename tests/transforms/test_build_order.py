"""The build order is derived from what each model reads (and `depends_on`), never listed by hand."""

from __future__ import annotations

import pytest

from transforms.dag import CycleError, build_order, references
from transforms.runner import MARTS
from transforms.sql import statements


def test_a_model_comes_after_what_it_reads_and_keeps_the_listed_order_otherwise() -> None:
    depends = {"dashboard": {"service", "experience"}, "pareto": set(), "service": set(), "experience": set()}
    assert build_order(["dashboard", "pareto", "service", "experience"], depends) == [
        "pareto",
        "service",
        "experience",
        "dashboard",
    ]


def test_a_cycle_is_an_error_naming_the_models() -> None:
    with pytest.raises(CycleError, match="a, b"):
        build_order(["a", "b", "c"], {"a": {"b"}, "b": {"a"}})


def test_references_ignore_comments_and_other_schemas() -> None:
    sql = "-- reads marts.old_name no more\nselect * from marts.kpi_a join staging.stg_b using (day)"
    assert references(sql, "marts") == {"kpi_a"}
    assert references(sql, "staging") == {"stg_b"}


def test_the_dashboard_is_built_after_the_daily_marts_it_reads() -> None:
    assert MARTS.index("progress_dashboard") > MARTS.index("kpi_service_daily")
    assert MARTS.index("progress_dashboard") > MARTS.index("kpi_experience_daily")
    assert set(MARTS) == {
        "kpi_service_daily",
        "kpi_experience_daily",
        "kpi_cases_daily",
        "complaints_pareto",
        "progress_dashboard",
        "experience_dimensions",
        "experience_economics",
        "drivers",
        "journey_steps",
        "verbatim_topics_daily",
    }


def test_statements_split_at_line_ends_and_drop_comments() -> None:
    sql = "-- a comment ending in a semicolon;\nselect 1;\n\nselect ';' as x; -- trailing\n"
    assert statements(sql) == ["select 1", "select ';' as x"]
