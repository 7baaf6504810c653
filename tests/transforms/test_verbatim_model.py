"""The learned verbatim model: its features and scores are scikit-learn's, its file holds no pickle and is
what the training rebuilds, and it keeps the analysis contract (language, sentiment scale, topics, version)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from threadpoolctl import threadpool_limits

from tests.transforms.test_verbatims import assert_reads_plain_sentences
from transforms.verbatims import learned, train
from transforms.verbatims.analyse import analyser, normalise


def test_the_character_n_grams_are_scikit_learn_s_char_wb() -> None:
    char_wb = TfidfVectorizer(analyzer="char_wb", ngram_range=learned.CHAR_NGRAMS).build_analyzer()
    for text in ("Appli qui plante 3x/jour !!", "l'attente… 45 min", "ok", "👍 top", "re-re-rappel"):
        ours = [f[2:] for f in learned.text_features(text) if f.startswith("c:")]
        assert ours == char_wb(normalise(text)), text
    words = [f for f in learned.text_features("pas de réseau") if f[:2] in ("w:", "b:")]
    assert words == ["w:pas", "w:de", "w:reseau", "b:pas de", "b:de reseau"]


def test_the_cue_features_mark_negation_emoji_tone_and_length() -> None:
    def cues(text: str) -> list[str]:
        return [f for f in learned.text_features(text) if f[:2] not in ("w:", "b:", "c:")]

    # the 3 words after a negator of sentiment.yaml are in its scope; "!" or "?" closes it
    assert cues("Jamais déçu avec vous, vraiment") == ["n:decu", "n:avec", "n:vous", "l:3-5"]
    assert cues("not fixed! great") == ["n:fixed", "l:3-5"]
    assert cues("appli 👎👎") == ["e:👎", "e:👎", "l:1"]
    assert cues("Super le « rappel garanti »…") == ["p:...", "p:quote", "l:3-5"]
    assert cues("TOUJOURS RIEN ??") == ["p:!!", "p:caps", "l:2"]
    assert cues(" ".join(["mot"] * 30)) == ["l:26+"]


@pytest.fixture(scope="module")
def small_fit() -> tuple[train.Fitted, train.Encoded, learned.LearnedAnalyser, list[dict]]:
    """A model fitted on 300 training answers, written as a model file and read back by learned.py."""
    topics = list(analyser().topics)
    rows = train.load("train.jsonl")[:300]
    dev_rows = train.load("dev.jsonl")[:60]
    with threadpool_limits(1):
        fitted = train.fit(train.Encoded(rows, topics), train.CHOSEN)
    thresholds = np.full(len(topics), 0.5)
    data = train.serialise(train.to_arrays(fitted, thresholds, topics, len(rows)))
    return fitted, train.Encoded(dev_rows, topics), learned.load(data, analyser()), dev_rows


def test_the_numpy_scores_are_scikit_learn_s_probabilities(small_fit) -> None:
    fitted, dev, model, dev_rows = small_fit
    expected_topics = fitted.topic_probabilities(dev)
    expected_sentiment = fitted.sentiment_probabilities(dev)
    for i, row in enumerate(dev_rows):
        raw = model.scores(row["text"], analyser().analyse(row["text"], None))
        topics = 1 / (1 + np.exp(-raw[: model.n_topics]))
        odds = np.exp(raw[model.n_topics :] - raw[model.n_topics :].max())
        np.testing.assert_allclose(topics, expected_topics[i], atol=1e-4)
        np.testing.assert_allclose(odds / odds.sum(), expected_sentiment[i], atol=1e-4)
        a = model.analyse(row["text"])
        assert set(a.topics) == {t for t, p in zip(model.topic_keys, expected_topics[i], strict=True) if p >= 0.5}
        assert a.sentiment == train.SENTIMENTS[int(np.argmax(expected_sentiment[i]))]


def test_the_version_follows_the_model_file(small_fit) -> None:
    fitted, _, model, _ = small_fit
    topics = list(analyser().topics)
    other = train.serialise(train.to_arrays(fitted, np.full(len(topics), 0.6), topics, 300))
    assert learned.load(other, analyser()).version != model.version
    assert model.version.startswith(learned.CODE + "+")


def test_the_shipped_model_file_holds_numbers_and_text_only() -> None:
    path = train.OUTPUT
    with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as npz:
        kinds = {name: npz[name].dtype.kind for name in npz.files}
    assert set(kinds.values()) <= {"f", "U"}, kinds  # floats and unicode strings: nothing to unpickle
    assert path.stat().st_size < 5_000_000


def test_the_shipped_model_file_is_what_the_training_rebuilds() -> None:
    """python -m transforms.verbatims.train --check: same data and code, the same model (train.check)."""
    assert train.main(["--check"]) == 0


def test_the_build_s_analyser_keeps_the_contract() -> None:
    model = learned.default_analyser()
    assert model.version.startswith(learned.CODE + "+")
    assert list(model.topics) == list(analyser().topics)
    assert_reads_plain_sentences(model)
    assert 0 < model.analyse("The agent was really kind and helpful, thanks", "en").sentiment_score <= 1
    assert model.analyse("ok").sentiment == "neutral"


def test_the_check_accepts_other_last_bits_and_refuses_another_model() -> None:
    """A rebuild on another CPU differs in the solvers' last bits (train.CHECK_PROBABILITY says how much
    was seen): accepted; other thresholds, coefficients or vocabulary weights: refused."""
    shipped = train.OUTPUT.read_bytes()
    with np.load(io.BytesIO(shipped)) as npz:
        arrays = {name: npz[name] for name in npz.files}

    def check(**changed: np.ndarray) -> str | None:
        return train.check(shipped, train.serialise({**arrays, **changed}))

    assert check(topic_coef=arrays["topic_coef"] * np.float32(1 + 1e-4)).startswith("equivalent")
    one_step = arrays["topic_threshold"].copy()
    one_step[0] += 0.025
    assert check(topic_threshold=one_step).startswith("equivalent")
    assert check(topic_threshold=np.full_like(arrays["topic_threshold"], 0.95)) is None
    assert check(topic_coef=arrays["topic_coef"] * np.float32(1.1)) is None
    assert check(sentiment_intercept=arrays["sentiment_intercept"] + np.float32([0.2, 0, 0])) is None
    assert check(idf=arrays["idf"] * np.float32(2)) is None
    assert train.check(shipped, shipped) == "identical to a rebuild"
    assert train.check(None, shipped) is None
