"""The learned verbatim analyser: TF-IDF of words and character n-grams, logistic regressions on top.

Trained on hand-labelled answers (tests/data/verbatims/train.jsonl + dev.jsonl, never test.jsonl) by
`python -m transforms.verbatims.train`, which writes `model.npz` beside this file; this module only
reads it, with numpy and no pickle (every array is numbers or fixed-width strings, loaded with
`allow_pickle=False`), so the build needs no scikit-learn and runs no code from the file.

- Features of an answer (`features`): the text normalised as the lexicon analyser does (lower case, no
  accents), its words and pairs of words, and the character n-grams of 2 to 5 letters inside each word
  padded with a space ("char_wb": typos, SMS spellings and French/English stems share most of their
  n-grams), and a few cues of tone (`cue_features`, since `learned-2`): the words in the scope of a
  negation ("jamais déçu", "not fixed"), emoji, "...", "!!" / "??", words in quotes ("rappel garanti"),
  ALL CAPS and the length of the answer. TF-IDF with sublinear term frequency and unit length, as
  scikit-learn's TfidfVectorizer.
- Beside them a small block from the lexicon analyser (analyse.py): its topics, its sentiment class and
  score (the weight of the block against the text is chosen in training, per head, and folded into
  the stored coefficients). The learned weights decide how far to trust the hand-written cues, so the
  negation, contrast and irony rules still count.
- Topics: one logistic regression per topic; a topic is kept when its probability reaches the topic's
  threshold (chosen in training on cross-validated predictions, to maximise that topic's F1).
- Sentiment: a multinomial logistic regression over negative / neutral / positive; the class is the
  most probable one and the score, in [-1, 1] like the lexicon's, is P(positive) - P(negative).
- Language: the lexicon analyser's detector (function words and accents), when the answer has none.

The version (`learned-<code>+<hash of model.npz and of the lexicon files>`) goes into
`staging.verbatim_analysis.model_version`: a new model file makes the next build analyse every
verbatim again.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from functools import cache
from importlib import resources

import numpy as np

from transforms.verbatims.analyse import Analyser, Analysis, analyser, normalise, words

# Bump when the code changes what an analysis gives for the same model file.
CODE = "learned-2"
MODEL_FILE = "model.npz"
SENTIMENTS = ("negative", "neutral", "positive")
CHAR_NGRAMS = (2, 5)
NEGATION_SCOPE = 3
# the length buckets of cue_features: (most words, name)
LENGTHS = ((1, "1"), (2, "2"), (5, "3-5"), (12, "6-12"), (25, "13-25"), (10**9, "26+"))
_RUN = re.compile(r"[!?]{2,}")
_QUOTED = re.compile(r"[\"\u00ab\u201c].+?[\"\u00bb\u201d]")


def char_ngrams(word: str) -> list[str]:
    """The character n-grams of one whitespace-separated word padded with a space, as scikit-learn's
    analyzer="char_wb" gives them (in the same order)."""
    padded = f" {word} "
    size = len(padded)
    low, high = CHAR_NGRAMS
    return [padded[i : i + n] for n in range(low, min(high, size) + 1) for i in range(size - n + 1)]


def _length(count: int) -> str:
    return next(name for top, name in LENGTHS if count <= top)


def cue_features(text: str, tokens: list[str], negators: frozenset[str]) -> list[str]:
    """The sentiment cues n-grams miss: the words in the scope of a negation ("n:" + word: the NEGATION_SCOPE
    words after a negator of sentiment.yaml, up to a "!" or "?"), each emoji ("e:" + the symbol), marks of
    tone ("p:..." trailing off, "p:!!" a run of "!" or "?", "p:quote" a word in quotes, "p:caps" shouting)
    and the length of the answer in words ("l:" + a bucket: one-word answers lean one way, rants another)."""
    out = []
    scope = 0
    for t in tokens:
        if t in ("!", "?"):
            scope = 0
        elif t in negators:
            scope = NEGATION_SCOPE
        elif scope:
            out.append("n:" + t)
            scope -= 1
    if not text.isascii():
        out += ["e:" + c for c in text if unicodedata.category(c) == "So"]
    if "..." in text or "\u2026" in text:
        out.append("p:...")
    if _RUN.search(text):
        out.append("p:!!")
    if _QUOTED.search(text):
        out.append("p:quote")
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 4 and sum(c.isupper() for c in letters) > 0.7 * len(letters):
        out.append("p:caps")
    out.append("l:" + _length(sum(t not in ("!", "?") for t in tokens)))
    return out


def text_features(text: str) -> list[str]:
    """The word, word-pair, character n-gram and cue features of a text (with repeats: they are counts)."""
    tokens = words(text)
    out = ["w:" + t for t in tokens]
    out += ["b:" + a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)]
    out += ["c:" + g for word in normalise(text).split() for g in char_ngrams(word)]
    out += cue_features(text, tokens, analyser().negators)
    return out


def lexicon_block(analysis: Analysis, topics: list[str]) -> list[float]:
    """The lexicon analyser's view of an answer, as numbers: one per topic, one per class, its score."""
    return [
        *(1.0 if t in analysis.topics else 0.0 for t in topics),
        *(1.0 if analysis.sentiment == s else 0.0 for s in SENTIMENTS),
        analysis.sentiment_score,
    ]


class LearnedAnalyser:
    """Analyses verbatims with the weights of model.npz; same answers as Analyser.analyse."""

    def __init__(self, model: dict[str, np.ndarray], lexicon: Analyser, digest: str) -> None:
        self.lexicon = lexicon
        self.topics = lexicon.topics  # the taxonomy (keys, labels) stays taxonomy.yaml's
        self.topic_keys = [str(t) for t in model["topics"]]
        if self.topic_keys != list(lexicon.topics):
            raise ValueError(
                f"{MODEL_FILE} was trained on topics {self.topic_keys}, taxonomy.yaml has {list(lexicon.topics)}: "
                "run python -m transforms.verbatims.train"
            )
        self.vocabulary = {f: i for i, f in enumerate(str(model["vocabulary"].item()).split("\n"))}
        self.idf = model["idf"].astype(np.float64)
        # one weight matrix for both heads: topics first, then the 3 sentiment classes
        self.weights = np.hstack([model["topic_coef"].T, model["sentiment_coef"].T]).astype(np.float64)
        self.lexicon_weights = np.hstack([model["topic_lexicon_coef"].T, model["sentiment_lexicon_coef"].T]).astype(
            np.float64
        )
        self.intercepts = np.concatenate([model["topic_intercept"], model["sentiment_intercept"]]).astype(np.float64)
        self.thresholds = model["topic_threshold"].astype(np.float64)
        self.n_topics = len(self.topic_keys)
        self._memo: dict[str, tuple[int, ...]] = {}
        self.version = f"{CODE}+{digest}"

    def _char_features(self, word: str) -> tuple[int, ...]:
        """The known character n-grams of a word (memoised: customers reuse a small vocabulary)."""
        found = self._memo.get(word)
        if found is None:
            vocabulary = self.vocabulary
            found = tuple(i for g in char_ngrams(word) if (i := vocabulary.get("c:" + g)) is not None)
            if len(self._memo) < 200_000:
                self._memo[word] = found
        return found

    def scores(self, text: str, lexical: Analysis) -> np.ndarray:
        """The raw scores (log-odds) of the topics and the sentiment classes (text_features, counted)."""
        tokens = words(text)
        found = [
            *("w:" + t for t in tokens),
            *("b:" + a + " " + b for a, b in zip(tokens, tokens[1:], strict=False)),
            *cue_features(text, tokens, self.lexicon.negators),
        ]
        counts: dict[int, int] = {}
        for f in found:
            i = self.vocabulary.get(f)
            if i is not None:
                counts[i] = counts.get(i, 0) + 1
        for word in normalise(text).split():
            for i in self._char_features(word):
                counts[i] = counts.get(i, 0) + 1
        out = self.intercepts.copy()
        if counts:
            idx = np.fromiter(counts, dtype=np.intp, count=len(counts))
            tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
            values = tf * self.idf[idx]
            values /= np.sqrt(values @ values)
            out += values @ self.weights[idx]
        return out + np.asarray(lexicon_block(lexical, self.topic_keys)) @ self.lexicon_weights

    def analyse(self, text: str, language: str | None = None) -> Analysis:
        lexical = self.lexicon.analyse(text, language)
        raw = self.scores(text, lexical)
        probabilities = 1.0 / (1.0 + np.exp(-raw[: self.n_topics]))
        kept = probabilities >= self.thresholds
        topics = tuple(sorted(k for k, keep in zip(self.topic_keys, kept, strict=True) if keep))
        logits = raw[self.n_topics :]
        odds = np.exp(logits - logits.max())
        sentiment = odds / odds.sum()
        label = SENTIMENTS[int(np.argmax(sentiment))]
        score = round(float(sentiment[2] - sentiment[0]), 4)
        return Analysis(lexical.language, lexical.language_detected, score, label, topics)


def load(data: bytes, lexicon: Analyser) -> LearnedAnalyser:
    """A learned analyser from the bytes of a model file (numbers and strings only: no pickle)."""
    import io

    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        model = {name: npz[name] for name in npz.files}
    digest = hashlib.sha256(data + lexicon.version.encode()).hexdigest()[:12]
    return LearnedAnalyser(model, lexicon, digest)


@cache
def learned_analyser() -> LearnedAnalyser:
    """The learned analyser of the model file shipped with the project."""
    data = resources.files("transforms.verbatims").joinpath(MODEL_FILE).read_bytes()
    return load(data, analyser())


def default_analyser() -> LearnedAnalyser | Analyser:
    """The analyser the build uses (staging.verbatim_analysis): chosen on measured accuracy and speed,
    BENCHMARKS.md "Verbatims"."""
    return learned_analyser()
