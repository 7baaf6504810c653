"""The verbatim levers of marts.drivers (topic_<topic>: the answer's verbatim mentions the topic negatively):
their columns on a hand-made fixture, their labels from the taxonomy, and a planted effect the ranking finds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from cxpulse.config import Settings
from streams.simulator import LeverEffects, SimulationOptions
from tests.streams.test_simulator import warehouse_of
from tests.transforms.test_drivers import answer, settings_with
from transforms import drivers
from transforms.runner import build
from transforms.verbatims.analyse import analyser
from transforms.verbatims.learned import default_analyser
from warehouse.db import connect

TOPICS = tuple(analyser().topics)


@pytest.fixture
def con(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    """Five answers of the week of 2026-03-09; the analysis of their verbatims is written by hand (the
    build keeps rows of the current analyser version), so the levers are checked apart from the lexicon."""
    monkeypatch.setattr(drivers, "load_drivers", lambda: settings_with(min_n=2, bootstrap_samples=50))
    connection = connect(settings.warehouse_path)
    analysis = {  # response_id: (nps, topics, sentiment)
        "v1": (2, ["waiting", "effort"], "negative"),
        "v2": (9, ["waiting"], "positive"),
        "v3": (4, [], "negative"),
        "v4": (3, ["billing"], "negative"),
        "v5": (8, None, None),  # no verbatim
    }
    connection.execute(
        "create table if not exists staging.verbatim_analysis (response_id varchar primary key, language varchar, "
        "language_detected boolean, sentiment_score double, sentiment varchar, topics varchar[], model_version varchar)"
    )
    for i, (response_id, (nps, topics, sentiment)) in enumerate(analysis.items()):
        verbatim = None if topics is None else f"verbatim {response_id}"
        answer(connection, response_id, f"2026-03-{10 + i}T10:00:00Z", f"C{i}", nps=nps, csat=3, verbatim=verbatim)
        if topics is not None:
            connection.execute(
                "insert into staging.verbatim_analysis values (?, 'fr', false, 0.0, ?, ?, ?)",
                [response_id, sentiment, topics, default_analyser().version],
            )
    build(connection, settings)
    yield connection
    connection.close()


def test_verbatim_lever_columns_by_hand(con) -> None:
    columns = ", ".join(f"topic_{t}" for t in TOPICS)
    rows = {r[0]: r[1:] for r in con.execute(f"select response_id, {columns} from answer_levers").fetchall()}

    def levers(**ones: int) -> tuple[int, ...]:
        return tuple(ones.get(t, 0) for t in TOPICS)

    assert rows == {
        "v1": levers(waiting=1, effort=1),  # negative, both topics
        "v2": levers(),  # waiting, but positive
        "v3": levers(),  # negative, no topic
        "v4": levers(billing=1),
        "v5": (None,) * len(TOPICS),  # no verbatim: the levers do not apply
    }


def test_performance_and_labels_of_the_verbatim_levers(con) -> None:
    rows = con.execute(
        "select driver, performance, n, label_en, label_fr from marts.drivers where period_type = 'week' "
        "and period_start = ? and scope = 'all' and outcome = 'nps' and driver like 'topic_%' order by driver",
        [date(2026, 3, 9)],
    ).fetchall()
    # performance: share of the 4 answers with a verbatim that do not mention the topic negatively; the
    # topics nobody complains about have no variance and leave the model
    assert rows == [
        ("topic_billing", 0.75, 4, "Negative verbatim: Billing", "Verbatim négatif : Facturation"),
        ("topic_effort", 0.75, 4, "Negative verbatim: Customer effort", "Verbatim négatif : Effort client"),
        ("topic_waiting", 0.75, 4, "Negative verbatim: Waiting time", "Verbatim négatif : Temps d'attente"),
    ]


def test_one_lever_per_topic_of_the_taxonomy_with_its_labels() -> None:
    levers = drivers.load_drivers().levers
    for key, topic in analyser().topics.items():
        lever = levers[f"topic_{key}"]
        assert topic.label_en in lever.label_en and topic.label_fr in lever.label_fr
        assert lever.higher_is_better is False and lever.outcomes == ("nps", "csat")
    assert "topic_invented" not in levers
    with pytest.raises(drivers.DriverCatalogueError, match="topic_levers"):
        drivers.parse({**_block(), "topic_levers": {"label_en": "x"}})
    parsed = drivers.parse(_block(), topics={"queue": ("Queue", "File")})
    assert parsed.levers["topic_queue"].label_fr == "Verbatim négatif : File"
    few = drivers.parse({**_block(), "topic_levers": {**_block()["topic_levers"], "topics": ["waiting", "billing"]}})
    assert sorted(k for k in few.levers if k.startswith("topic_")) == ["topic_billing", "topic_waiting"]
    with pytest.raises(drivers.DriverCatalogueError, match="topic_levers.topics.*'queue'"):
        drivers.parse({**_block(), "topic_levers": {**_block()["topic_levers"], "topics": ["queue"]}})


def _block() -> dict:
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("transforms").joinpath("kpis.yaml").read_text())["drivers"]


def _verbatim_levers(tmp_path: Path, wait: float) -> dict[str, float]:
    effects = LeverEffects(unresolved=0.0, wait=wait, abandonment=0.0, repeat=0.0, complaint=0.0, failed_step=0.0)
    options = SimulationOptions(
        days=28, customers=20_000, seed=11, end=datetime(2026, 11, 26, tzinfo=UTC), effects=effects
    )
    con, _ = warehouse_of(options, tmp_path / f"wait-{wait}")
    rows = con.execute(
        "select driver, importance from marts.drivers where period_type = 'month' and period_start = '2026-11-01' "
        "and scope = 'all' and outcome = 'nps' and driver like 'topic_%'"
    ).fetchall()
    con.close()
    return dict(rows)


def test_a_planted_effect_of_waiting_puts_the_waiting_topic_first(tmp_path: Path) -> None:
    # The simulator's answer after a wait beyond the customer's tolerance (+45 s) writes about the wait
    # (streams/simulator/stories.py). Planted: such a wait costs up to 6 NPS points, nothing else has an
    # effect. Expected: "negative verbatim: waiting time" is the first verbatim lever for NPS, and weighs
    # at least 3 x what it weighs in the same world where waiting costs nothing (there it only carries
    # the low scores that chance gives to answers about the wait).
    planted, none = _verbatim_levers(tmp_path, 6.0), _verbatim_levers(tmp_path, 0.0)
    assert max(planted, key=planted.get) == "topic_waiting", planted
    assert planted["topic_waiting"] >= 3 * none["topic_waiting"], (planted, none)


def test_the_quadrant_chart_stays_readable_with_the_verbatim_levers() -> None:
    from warehouse.dashboard_levers import quadrant_svg

    def row(driver: str, importance: float, performance: float, quadrant: str) -> dict:
        return {"driver": driver, "label_en": f"Label {driver}", "importance": importance, "importance_low": 0.0,
                "importance_high": importance * 1.5, "performance": performance, "n": 500, "r2": 0.4,
                "quadrant": quadrant}  # fmt: skip

    rows = [row("wait", 0.2, 0.6, "focus"), row("effort", 0.1, 0.9, "maintain")]
    rows += [row(f"topic_{i}", 0.005, 0.95 + i / 1000, "secondary") for i in range(12)]
    svg = str(quadrant_svg(rows, "nps"))
    # every lever is a point; the 12 secondary ones bunched in a corner have a hover title, no label
    assert svg.count('<g class="lever"') == 14 and svg.count("<circle") == 14
    assert svg.count("<title>Label topic_") == 12 and ">Label topic_0</text>" not in svg
    assert ">Label wait</text>" in svg and ">Label effort</text>" in svg and "see the table" in svg
