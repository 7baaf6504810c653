"""Counts of the verbatim evaluation set, the one place they are computed.

    python tests/data/verbatims/stats.py           # print the counts table
    python tests/data/verbatims/stats.py --write   # rewrite it in README.md (between the markers)

tests/transforms/test_verbatim_evalset.py fails when README.md's table is not what this prints, so the
counts in the labelling guide are never typed by hand.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
FILES = ("train.jsonl", "dev.jsonl", "test.jsonl")
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, as the docstring shows

from transforms.verbatims.learned import SENTIMENTS  # noqa: E402

# the topics in the order of their one definition, the taxonomy
TOPICS = tuple(yaml.safe_load((REPO / "transforms/verbatims/taxonomy.yaml").read_text(encoding="utf-8"))["topics"])
LANGUAGES = ("fr", "en")
BEGIN, END = "<!-- counts:begin -->", "<!-- counts:end -->"


def load(name: str) -> list[dict]:
    """The rows of one file of the set (`train.jsonl`, `dev.jsonl` or `test.jsonl`), in file order."""
    with (HERE / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def table(files: dict[str, list[dict]]) -> str:
    """A markdown table: one column per file, rows for size, languages, sentiments and topics."""
    cols = list(files)
    lines = ["| | " + " | ".join(f"`{c}`" for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    def share(n: int, total: int) -> str:
        return f"{n} ({100 * n / total:.0f} %)"

    sizes = {c: len(rows) for c, rows in files.items()}
    row("answers", [str(sizes[c]) for c in cols])
    for lang in LANGUAGES:
        row(f"language `{lang}`", [share(sum(r["language"] == lang for r in files[c]), sizes[c]) for c in cols])
    for s in SENTIMENTS:
        row(f"sentiment `{s}`", [share(sum(r["sentiment"] == s for r in files[c]), sizes[c]) for c in cols])
    per_topic = {c: Counter(t for r in files[c] for t in r["topics"]) for c in cols}
    for t in TOPICS:
        row(f"topic `{t}`", [str(per_topic[c][t]) for c in cols])
    row("no topic", [str(sum(not r["topics"] for r in files[c])) for c in cols])
    row("two topics or more", [str(sum(len(r["topics"]) >= 2 for r in files[c])) for c in cols])
    return "\n".join(lines)


def current_table() -> str:
    return table({name: load(name) for name in FILES})


def readme_table(readme: str) -> str:
    """The table written in the README between the markers."""
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main(argv: list[str]) -> int:
    text = current_table()
    if argv[1:] == ["--write"]:
        path = HERE / "README.md"
        readme = path.read_text(encoding="utf-8")
        head, rest = readme.split(BEGIN, 1)
        path.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
