"""Accuracy of the verbatim analysers on a labelled set, beside a keyword baseline.

Usage: python -m bench.verbatims_eval [--set tests/data/verbatims/test.jsonl] [--json]

Prints precision, recall and F1 per topic, the macro-F1 over the topics and the sentiment accuracy
(3 classes) of three models side by side: the learned model (transforms/verbatims/learned.py, trained on
train.jsonl + dev.jsonl), the lexicon analyser (transforms/verbatims/analyse.py, tuned on dev.jsonl)
and the baseline: the same taxonomy cues matched as plain keywords and stems (no typo tolerance),
sentiment = sign of (positive cues - negative cues), no negation, intensifier or contrast. `chosen` is
the one the build uses (transforms.verbatims.learned.default_analyser).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from transforms.verbatims.analyse import Analyser, CueIndex, analyser, words
from transforms.verbatims.learned import default_analyser, learned_analyser

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
    """Scores of the learned model, the lexicon analyser and the keyword baseline; `chosen` is the build's."""
    rows = load(path)
    lexicon = analyser()
    topics = list(lexicon.topics)
    models = {}
    for name, model in (("learned", learned_analyser()), ("lexicon", lexicon)):
        found = [model.analyse(r["text"], None) for r in rows]  # the language is withheld
        language = sum(a.language == r["language"] for r, a in zip(rows, found, strict=True)) / len(rows)
        models[name] = score(rows, [(a.topics, a.sentiment) for a in found], topics) | {
            "version": model.version,
            "language_accuracy": language,
        }
    baseline = KeywordBaseline(lexicon)
    models["baseline"] = score(rows, [baseline.analyse(r["text"]) for r in rows], topics)
    chosen = next(name for name in ("learned", "lexicon") if models[name]["version"] == default_analyser().version)
    return {
        "set": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
        "model": models[chosen]["version"],
        "chosen_name": chosen,
        "chosen": models[chosen],
        **models,
    }


def report(result: dict) -> str:
    names = ("learned", "lexicon", "baseline")
    lines = [
        f"{result['set']}: {result['chosen']['n']} verbatims; learned {result['learned']['version']}, "
        f"lexicon {result['lexicon']['version']}; the build uses: {result['chosen_name']}",
        "",
        f"{'topic':<16}{'support':>8}" + "".join(f"  {name + ' P / R / F1':>22}" for name in names),
    ]
    for topic, m in result["learned"]["topics"].items():
        cells = [result[name]["topics"][topic] for name in names]
        lines.append(
            f"{topic:<16}{m['support']:>8}"
            + "".join(f"  {c['precision']:>10.2f} / {c['recall']:.2f} / {c['f1']:.2f}" for c in cells)
        )
    lines += [
        "",
        "macro-F1 topics     " + "   ".join(f"{name} {result[name]['macro_f1']:.3f}" for name in names),
        "sentiment accuracy  " + "   ".join(f"{name} {result[name]['sentiment_accuracy']:.3f}" for name in names),
        "language accuracy   "
        + "   ".join(f"{name} {result[name]['language_accuracy']:.3f}" for name in names[:2])
        + " (language withheld from the models)",
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
