"""What the verbatim candidates of bench/verbatims_candidates.py share: the evaluation sets, the scores
(topic macro-F1, sentiment accuracy) and the heads put over the features (zero-shot prototypes, logistic
regressions with their settings chosen on dev). Bench code only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bench.minilm import Skip

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "verbatims"
SENTIMENTS = ("negative", "neutral", "positive")

Prediction = tuple[tuple[str, ...], str | None]


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def taxonomy() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "transforms" / "verbatims" / "taxonomy.yaml").read_text(encoding="utf-8"))["topics"]


def topic_keys() -> list[str]:
    return list(taxonomy())


def score(rows: list[dict], predictions: list[Prediction], topics: list[str]) -> dict:
    """macro-F1 over topics and 3-class sentiment accuracy, as bench/verbatims_eval.py computes them."""
    result: dict = {"n": len(rows)}
    if predictions and predictions[0][0] is not None:
        f1s = {}
        for topic in topics:
            tp = sum(topic in p[0] and topic in r["topics"] for r, p in zip(rows, predictions, strict=True))
            fp = sum(topic in p[0] and topic not in r["topics"] for r, p in zip(rows, predictions, strict=True))
            fn = sum(topic not in p[0] and topic in r["topics"] for r, p in zip(rows, predictions, strict=True))
            f1s[topic] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        result["macro_f1"] = sum(f1s.values()) / len(f1s)
        result["f1"] = f1s
    if predictions and predictions[0][1] is not None:
        result["sentiment_accuracy"] = sum(
            p[1] == r["sentiment"] for r, p in zip(rows, predictions, strict=True)
        ) / len(rows)
    return result


def sklearn_logistic():
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression
    except ImportError as e:
        raise Skip("scikit-learn is not installed") from e
    return np, LogisticRegression


class LinearHeads:
    """One-vs-rest logistic regression per topic (a topic when p >= threshold) and a 3-class one for sentiment."""

    def __init__(self, c: float, threshold: float, class_weight: str | None = "balanced") -> None:
        self.c, self.threshold, self.class_weight = c, threshold, class_weight

    def fit(self, x, rows: list[dict], topics: list[str]) -> LinearHeads:
        np, lr = sklearn_logistic()
        self.topics = topics
        self.topic_models = []
        for topic in topics:
            y = np.array([topic in r["topics"] for r in rows])
            self.topic_models.append(lr(C=self.c, max_iter=2000, class_weight=self.class_weight).fit(x, y))
        self.sentiment_model = lr(C=self.c, max_iter=2000, class_weight=self.class_weight).fit(
            x, [r["sentiment"] for r in rows]
        )
        return self

    def topic_probabilities(self, x):
        np, _ = sklearn_logistic()
        return np.stack([m.predict_proba(x)[:, 1] for m in self.topic_models], 1)

    def predict(self, x, threshold: float | None = None) -> list[Prediction]:
        p = self.topic_probabilities(x)
        cut = self.threshold if threshold is None else threshold
        sentiments = self.sentiment_model.predict(x)
        return [
            (tuple(t for t, v in zip(self.topics, row, strict=True) if v >= cut), str(s))
            for row, s in zip(p, sentiments, strict=True)
        ]


C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0)
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


def select_linear(featurise: Callable, train: list[dict], dev: list[dict], topics: list[str]) -> dict:
    """Chooses C and the topic threshold on dev (fitted on train), or by 5-fold CV on dev without train.
    Topics and sentiment are chosen apart (each its own best C)."""
    np, _ = sklearn_logistic()
    folds = []
    if train:
        folds.append((train, dev))
    else:
        idx = np.random.default_rng(16).permutation(len(dev))
        for k in range(5):
            held = set(idx[k::5].tolist())
            folds.append(([r for i, r in enumerate(dev) if i not in held], [r for i, r in enumerate(dev) if i in held]))
    grid: dict[tuple[float, float], list[float]] = {}
    sentiment: dict[float, list[float]] = {}
    for fit_rows, eval_rows in folds:
        x_fit, x_eval = featurise(fit_rows, eval_rows)
        for c in C_GRID:
            heads = LinearHeads(c, 0.5).fit(x_fit, fit_rows, topics)
            for cut in THRESHOLDS:
                s = score(eval_rows, heads.predict(x_eval, cut), topics)
                grid.setdefault((c, cut), []).append(s["macro_f1"])
            sentiment.setdefault(c, []).append(s["sentiment_accuracy"])
    (c_topics, cut), f1 = max(grid.items(), key=lambda kv: np.mean(kv[1]))
    c_sentiment, acc = max(sentiment.items(), key=lambda kv: np.mean(kv[1]))
    return {
        "c_topics": c_topics,
        "threshold": cut,
        "c_sentiment": c_sentiment,
        "selection": "dev (fitted on train)" if train else "5-fold CV on dev",
        "selection_macro_f1": float(np.mean(f1)),
        "selection_sentiment_accuracy": float(np.mean(acc)),
    }


# Prototype texts for zero-shot sentiment, in both languages (written for this bench, not tuned on test).
SENTIMENT_PROTOTYPES = {
    "negative": [
        "I am very unhappy, this is terrible service",
        "Awful experience, I am angry and disappointed",
        "Je suis très mécontent, service nul",
        "Expérience horrible, je suis déçu et énervé",
    ],
    "neutral": [
        "It was okay, nothing special",
        "I would like information about my contract",
        "C'était correct, sans plus",
        "Je voudrais une information sur mon contrat",
    ],
    "positive": [
        "I am very satisfied, great service, thank you",
        "Excellent experience, the staff were wonderful",
        "Je suis très satisfait, super service, merci",
        "Excellente expérience, personnel formidable",
    ],
}


class Prototypes:
    """Zero-shot: a topic is predicted when the answer's cosine to the topic's prototype (the mean embedding of
    its EN label, FR label and definition) is at least `cut`; sentiment is the nearest sentiment prototype."""

    def __init__(self, encoder, topics: list[str]) -> None:
        import numpy as np

        self.encoder, self.topics = encoder, topics
        tax = taxonomy()
        vectors = []
        for key in topics:
            t = tax[key]
            e = encoder.encode([t["label_en"], t["label_fr"], t["definition"]])
            vectors.append(e.mean(0))
        self.topic_matrix = np.stack(vectors)
        self.topic_matrix /= np.linalg.norm(self.topic_matrix, axis=1, keepdims=True)
        sentiment = []
        for label in SENTIMENTS:
            e = encoder.encode(SENTIMENT_PROTOTYPES[label]).mean(0)
            sentiment.append(e / np.linalg.norm(e))
        self.sentiment_matrix = np.stack(sentiment)

    def predict(self, embeddings, cut: float) -> list[Prediction]:
        sims = embeddings @ self.topic_matrix.T
        sent = (embeddings @ self.sentiment_matrix.T).argmax(1)
        return [
            (tuple(t for t, v in zip(self.topics, row, strict=True) if v >= cut), SENTIMENTS[s])
            for row, s in zip(sims, sent, strict=True)
        ]
