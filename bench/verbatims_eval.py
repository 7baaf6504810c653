"""Accuracy of the verbatim analyser on a labelled set, beside a keyword baseline.

Usage: python -m bench.verbatims_eval [--set tests/data/verbatims/test.jsonl] [--json]

Prints precision, recall and F1 per topic, the macro-F1 over the topics and the sentiment accuracy
(3 classes) of the chosen model (transforms/verbatims/analyse.py) and of the baseline: the same
taxonomy cues matched as plain keywords and stems (no typo tolerance), sentiment = sign of (positive
cues - negative cues), no negation, intensifier or contrast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transforms.verbatims.analyse import Analyser, CueIndex, analyser, words

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SET = ROOT / "tests" / "data" / "verbatims" / "test.jsonl"


class KeywordBaseline:
    """Keywords and stems of the same lexicon files, nothing else."""

    def __init__(self, model: Analyser) -> None:
        self.model = model

    def analyse(self, text: str, language: str | None = None) -> tuple[tuple[str, ...], str]:
        tokens = words(text)
        topics = set()
        for i, word in enumerate(tokens):
            for c in self._exact(self.model.topic_cues, word):
                parts, target = self.model.topic_cues.cues[c]
                if all(CueIndex._part_matches(p, tokens[i + k]) for k, p in enumerate(parts) if i + k < len(tokens)):
                    if i + len(parts) <= len(tokens):
                        topics.add(str(target))
        score = 0
        for word in tokens:
            for c in self._exact(self.model.valence, word):
                parts, value = self.model.valence.cues[c]
                if len(parts) == 1:
                    score += (value > 0) - (value < 0)
        return tuple(sorted(topics)), "negative" if score < 0 else "positive" if score > 0 else "neutral"

    @staticmethod
    def _exact(index: CueIndex, word: str) -> list[int]:
        hits = list(index.by_word.get(word, ()))
        for n in index.stem_lengths:
            if n <= len(word):
                hits += index.by_stem.get(word[:n], ())
        return hits


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score(rows: list[dict], predictions: list[tuple[tuple[str, ...], str]], topics: list[str]) -> dict:
    per_topic = {}
    for topic in topics:
        tp = sum(topic in p[0] and topic in r["topics"] for r, p in zip(rows, predictions, strict=True))
        fp = sum(topic in p[0] and topic not in r["topics"] for r, p in zip(rows, predictions, strict=True))
        fn = sum(topic not in p[0] and topic in r["topics"] for r, p in zip(rows, predictions, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_topic[topic] = {"support": tp + fn, "precision": precision, "recall": recall, "f1": f1}
    scored = [t for t in topics if per_topic[t]["support"]]
    macro = sum(per_topic[t]["f1"] for t in scored) / len(scored) if scored else 0.0
    accuracy = sum(p[1] == r["sentiment"] for r, p in zip(rows, predictions, strict=True)) / len(rows)
    return {"n": len(rows), "topics": per_topic, "macro_f1": macro, "sentiment_accuracy": accuracy}


def evaluate(path: Path) -> dict:
    rows = load(path)
    model = analyser()
    topics = list(model.topics)
    chosen = [model.analyse(r["text"], None) for r in rows]
    language_accuracy = sum(a.language == r["language"] for r, a in zip(rows, chosen, strict=True)) / len(rows)
    baseline = KeywordBaseline(model)
    return {
        "set": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "model": model.version,
        "chosen": score(rows, [(a.topics, a.sentiment) for a in chosen], topics)
        | {"language_accuracy": language_accuracy},
        "baseline": score(rows, [baseline.analyse(r["text"]) for r in rows], topics),
    }


def report(result: dict) -> str:
    lines = [f"{result['set']}: {result['chosen']['n']} verbatims, model {result['model']}", ""]
    lines.append(f"{'topic':<16}{'support':>8}  {'model P / R / F1':>20}  {'baseline P / R / F1':>22}")
    for topic, m in result["chosen"]["topics"].items():
        b = result["baseline"]["topics"][topic]
        lines.append(
            f"{topic:<16}{m['support']:>8}  {m['precision']:.2f} / {m['recall']:.2f} / {m['f1']:.2f}"
            f"      {b['precision']:.2f} / {b['recall']:.2f} / {b['f1']:.2f}"
        )
    c, b = result["chosen"], result["baseline"]
    lines += [
        "",
        f"macro-F1 topics      model {c['macro_f1']:.3f}   baseline {b['macro_f1']:.3f}",
        f"sentiment accuracy   model {c['sentiment_accuracy']:.3f}   baseline {b['sentiment_accuracy']:.3f}",
        f"language accuracy    model {c['language_accuracy']:.3f} (language withheld from the model)",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = evaluate(args.set.resolve())
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
