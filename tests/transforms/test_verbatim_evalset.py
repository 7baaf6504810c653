"""The hand-written verbatim evaluation set (tests/data/verbatims) is well formed, balanced and honest.

Honest means: the held-out test file shares no text with the dev file the analysis is tuned on, and no
text is (or contains) one of the simulator's own verbatims, which a matcher could learn by heart.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "verbatims"
SIMULATOR = ROOT / "streams" / "simulator"
KEYS = {"id", "language", "text", "topics", "sentiment"}


def _stats():
    spec = importlib.util.spec_from_file_location("verbatim_stats", DATA / "stats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stats = _stats()


def _lines(name: str) -> list[str]:
    return (DATA / name).read_text(encoding="utf-8").splitlines()


def _normal(text: str) -> str:
    """Case, accents and punctuation folded, so a copy cannot hide behind a missing accent or a comma."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", bare.casefold()).split())


def _simulator_strings() -> set[str]:
    """Every string of the simulator with a few words in it, wherever its verbatims live: the string literals
    of its modules, and each line of its data files (a YAML or JSON list of texts, one text a line)."""
    found = set()
    for path in sorted(SIMULATOR.rglob("*")):
        if path.suffix == ".py":
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.add(_normal(node.value))
        elif path.suffix in {".yaml", ".yml", ".json", ".txt", ".csv"}:
            found.update(_normal(line) for line in path.read_text(encoding="utf-8").splitlines())
    return {s for s in found if " " in s}


@pytest.fixture(scope="module")
def files() -> dict[str, list[dict]]:
    return {name: stats.load(name) for name in stats.FILES}


@pytest.mark.parametrize("name", stats.FILES)
def test_every_line_is_one_json_object_with_the_documented_fields(name: str) -> None:
    for number, line in enumerate(_lines(name), 1):
        row = json.loads(line)
        assert isinstance(row, dict) and set(row) == KEYS, f"{name}:{number}"
        assert row["language"] in stats.LANGUAGES, f"{name}:{number}"
        assert row["sentiment"] in stats.SENTIMENTS, f"{name}:{number}"
        assert re.fullmatch(rf"{row['language']}-\d{{4}}", row["id"]), f"{name}:{number} {row['id']}"
        assert isinstance(row["text"], str) and row["text"].strip() == row["text"] != "", f"{name}:{number}"
        topics = row["topics"]
        assert isinstance(topics, list) and len(set(topics)) == len(topics), f"{name}:{number}"
        assert set(topics) <= set(stats.TOPICS), f"{name}:{number} {set(topics) - set(stats.TOPICS)}"


def test_ids_are_unique_across_both_files(files: dict[str, list[dict]]) -> None:
    ids = Counter(r["id"] for rows in files.values() for r in rows)
    assert [i for i, n in ids.items() if n > 1] == []


def test_no_text_appears_twice_within_or_across_the_files(files: dict[str, list[dict]]) -> None:
    texts = Counter(_normal(r["text"]) for rows in files.values() for r in rows)
    assert [t for t, n in texts.items() if n > 1] == []


def test_the_sizes_and_the_share_of_french(files: dict[str, list[dict]]) -> None:
    assert len(files["train.jsonl"]) >= 600
    assert len(files["dev.jsonl"]) == 150
    assert len(files["test.jsonl"]) >= 450
    for rows in files.values():
        french = sum(r["language"] == "fr" for r in rows) / len(rows)
        assert 0.5 <= french <= 0.6


def test_the_held_out_file_is_balanced(files: dict[str, list[dict]]) -> None:
    rows = files["test.jsonl"]
    topics = Counter(t for r in rows for t in r["topics"])
    assert {t: topics[t] for t in stats.TOPICS if topics[t] < 25} == {}
    sentiments = Counter(r["sentiment"] for r in rows)
    assert {s: sentiments[s] for s in stats.SENTIMENTS if sentiments[s] < 0.2 * len(rows)} == {}
    assert sum(not r["topics"] for r in rows) >= 20  # praise or anger that names no topic
    assert sum(len(r["topics"]) >= 2 for r in rows) >= 100  # several topics in one answer


def test_no_simulator_verbatim_is_reused(files: dict[str, list[dict]]) -> None:
    simulator = _simulator_strings()
    assert len(simulator) > 20  # the scan still finds the simulator's texts
    long_ones = [s for s in simulator if len(s.split()) >= 4]
    reused = []
    for rows in files.values():
        for r in rows:
            text = _normal(r["text"])
            if text in simulator or any(s in text for s in long_ones):
                reused.append(r["id"])
    assert reused == []


def test_the_comparison_ignores_case_accents_and_punctuation() -> None:
    assert _normal("Temps d'attente : INACCEPTABLE, j'ai raccroché !") == _normal(
        "temps d attente inacceptable j ai raccroche"
    )
    assert _normal("trop nul") != _normal("trop cool")


def test_the_readme_counts_are_the_computed_ones() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert stats.readme_table(readme) == stats.current_table(), "run: python tests/data/verbatims/stats.py --write"
