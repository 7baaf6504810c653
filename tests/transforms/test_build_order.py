"""The build order is derived from what each model reads (and `depends_on`), never listed by hand."""

from __future__ import annotations

import pytest

from transforms import build as build_module
from transforms.dag import CycleError, build_order, references
from transforms.runner import MARTS, build
from transforms.sql import statements
from warehouse.db import connect


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


def test_a_python_step_computes_while_the_marts_that_do_not_read_it_are_built(settings, monkeypatch) -> None:
    # drivers' step starts its estimation and the build goes on with the marts after it that do not read
    # marts.drivers; its mart is built once they are (or before a mart that reads it)
    events = []
    step = build_module.PYTHON_STEPS["drivers"]
    build_mart = build_module._build_mart

    def started(con, parameters):
        events.append("drivers step started")
        finish = step(con, parameters)

        def finished() -> None:
            events.append("drivers step finished")
            finish()

        return finished

    def building(con, spec, parameters, full) -> None:
        events.append(spec.name)
        build_mart(con, spec, parameters, full)

    monkeypatch.setitem(build_module.PYTHON_STEPS, "drivers", started)
    monkeypatch.setattr(build_module, "_build_mart", building)
    build(connect(settings.warehouse_path), settings, full=True)
    after = MARTS[MARTS.index("drivers") + 1 :]
    assert after and not any("drivers" in build_module.MART_BY_NAME[name].after for name in after)
    started_at = events.index("drivers step started")
    assert events[started_at + 1 : started_at + 1 + len(after)] == list(after)
    assert events[-2:] == ["drivers step finished", "drivers"]
    # a mart that reads another is built after it, whatever the steps
    assert "progress_dashboard" in build_module.MART_BY_NAME["experience_dimensions"].after
    assert events.index("experience_dimensions") > events.index("progress_dashboard")
