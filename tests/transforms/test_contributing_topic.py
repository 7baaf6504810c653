"""CONTRIBUTING.md "Add a verbatim topic" works: its example block, added to the taxonomy, is found by the
lexicon analyser, changes the lexicon version, and reaches marts.verbatim_topics_daily with its labels
through a real build that passes the model tests. The block is read from CONTRIBUTING.md, so the recipe and
the test cannot drift apart; the repository's taxonomy is not touched: the build is given the extended
lexicon analyser (the learned model it uses by default finds a new topic only once retrained on labelled
answers, the recipe's last step, which needs the labels a test cannot make up)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from cxpulse.config import Settings
from transforms.runner import build
from transforms.verbatims import store
from transforms.verbatims.analyse import Analyser, analyser
from warehouse.db import connect

REPO = Path(__file__).resolve().parents[2]
FOLDER = REPO / "transforms" / "verbatims"


def example() -> dict:
    text = (REPO / "CONTRIBUTING.md").read_text()
    (block,) = re.findall(r"<!-- verbatim example: taxonomy.yaml topics -->\n```yaml\n(.*?)```", text, flags=re.S)
    return yaml.safe_load(block)


def test_a_throwaway_verbatim_topic_added_by_following_contributing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = example()
    ((key, entry),) = block.items()
    taxonomy = yaml.safe_load((FOLDER / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert key not in taxonomy["topics"]
    taxonomy["topics"].update(block)
    model = Analyser(
        yaml.safe_dump(taxonomy, allow_unicode=True, sort_keys=False),
        (FOLDER / "sentiment.yaml").read_text(encoding="utf-8"),
    )
    assert model.version != analyser().version  # the next build analyses every verbatim again
    monkeypatch.setattr(store, "analyser", lambda: model)
    monkeypatch.setattr(store, "default_analyser", lambda: model)

    con = connect(settings.warehouse_path)
    texts = [
        ("Pas de réseau chez moi, zone blanche depuis des mois", "fr"),
        ("No signal at home and dropped calls every day", "en"),
        ("45 min d'attente au téléphone", "fr"),
    ]
    for i, (text, language) in enumerate(texts):
        con.execute(
            "insert into raw.surveys (response_id, occurred_at, customer_id, channel, touchpoint, survey, nps, "
            "verbatim, language, payload, kafka_topic, kafka_partition, kafka_offset, loaded_at) "
            "values (?, '2026-03-10T09:00:00Z', ?, 'phone', 'call', 'post_contact', 3, ?, ?, '{}', 's', 0, ?, now())",
            [f"r{i}", f"c{i}", text, language, i],
        )
    con.execute("insert or ignore into ops.dirty_days values ('2026-03-10')")
    build(con, settings)  # raises when a model test fails
    rows = con.execute(
        "select topic, label_en, label_fr, mentions from marts.verbatim_topics_daily "
        "where channel = 'all' and language = 'all' and topic in (?, 'waiting') order by topic",
        [key],
    ).fetchall()
    # the first two answers mention the new topic, the third waiting only
    assert rows == [(key, entry["label_en"], entry["label_fr"], 2), ("waiting", "Waiting time", "Temps d'attente", 1)]
    con.close()
