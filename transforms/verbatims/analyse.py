"""What a verbatim says, locally: its language, its sentiment and the irritant topics it mentions.

A lexicon analyser: pure Python, no model file, no network, thousands of answers per second on one core,
and every decision traceable to a line of taxonomy.yaml or sentiment.yaml. Measured against a keyword
baseline and vaderSentiment-fr on the evaluation set (BENCHMARKS.md, "Verbatims", with what it misses).

- Text is lower-cased and stripped of accents, then split into words ("l'appli" -> "l", "appli").
- Cues (taxonomy.yaml, sentiment.yaml): whole words, stems (`rembours*`) and runs of words; words of 6
  letters or more also match with one typo (customers type on phones), found through the
  symmetric-delete index of the cue words, memoised per word.
- Topics: every topic with a cue in the text; a `weak_cues` cue ("le conseiller") counts only when the
  text also holds a sentiment cue of valence JUDGEMENT or more (either way).
- Sentiment: the sum of the valences of the cues (the longest cue wins where cues overlap), a cue
  preceded by a negator within 3 words flipped and damped (x -0.6), scaled by an intensifier just
  before it ("très", "really"), the part after a contrast word ("mais", "but") weighing 1.5 and the
  part before 0.5; praise words of the `ironic` list count negative in an answer whose other cues add
  up to -IRONY_NEGATIVE or less ("45 min d'attente. Génial."), "??" adds QUESTIONS; then the sum is
  squashed to a score in [-1, 1] as VADER does (s / sqrt(s^2 + 15)). The class: negative below
  -NEGATIVE_BELOW, positive above POSITIVE_ABOVE, neutral between.
- Language: `fr` or `en` from function words and accents, when the answer does not carry it.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

# Bump when the code changes what an analysis gives (the lexicon files are hashed into the version).
ANALYSER = "lexicon-2"
NEGATIVE_BELOW, POSITIVE_ABOVE = 0.15, 0.3
NEGATION = -0.6
NEGATION_WINDOW = 3
CONTRAST_BEFORE, CONTRAST_AFTER = 0.5, 1.5
FUZZY_MIN_LEN = 6
IRONY_NEGATIVE = 1.5
JUDGEMENT = 1.5
QUESTIONS = -1.0

_WORD = re.compile(r"[a-z0-9€$]+|[!?]")
_FR_WORDS = frozenset(
    "le la les de des du un une et est pas je j ai mon ma mes pour avec sur dans que qui ce c en au aux tres "
    "mais ne n plus rien vous on il elle nous sont etait ete fait tout bien merci service client".split()
)
_EN_WORDS = frozenset(
    "the a an and is was not i my me for with on in that this it to of you but very have had no they "
    "were been did didn t just still get got be are so customer thanks".split()
)


def normalise(text: str) -> str:
    """Lower case, accents removed, typographic apostrophes made plain."""
    text = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'").replace("œ", "oe"))
    return "".join(c for c in text if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


@dataclass(frozen=True)
class Part:
    text: str
    stem: bool


def _parse_cue(cue: str) -> tuple[Part, ...]:
    parts = []
    for word in str(cue).split():
        stem = word.endswith("*")
        for piece in words(word.rstrip("*")):
            parts.append(Part(piece, False))
        if parts and stem:
            parts[-1] = Part(parts[-1].text, True)
    return tuple(parts)


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))} | {word}


class CueIndex:
    """Finds the cues of a text: (start, end, target) for each match, in order."""

    def __init__(self, cues: Iterable[tuple[str, object]]) -> None:
        self.cues: list[tuple[tuple[Part, ...], object]] = []
        for cue, target in cues:
            parts = _parse_cue(cue)
            if parts:
                self.cues.append((parts, target))
        self.by_word: dict[str, list[int]] = {}
        self.by_stem: dict[str, list[int]] = {}
        for i, (parts, _) in enumerate(self.cues):
            first = parts[0]
            (self.by_stem if first.stem else self.by_word).setdefault(first.text, []).append(i)
        self.stem_lengths = sorted({len(s) for s in self.by_stem})
        # symmetric-delete index of the long cue words and stems, for one-typo matches
        self.fuzzy: dict[str, set[str]] = {}
        for key in [*self.by_word, *self.by_stem]:
            if len(key) >= FUZZY_MIN_LEN:
                for d in _deletes(key):
                    self.fuzzy.setdefault(d, set()).add(key)
        self._memo: dict[str, tuple[int, ...]] = {}

    def _first(self, word: str) -> tuple[int, ...]:
        """Cues whose first part matches `word` (memoised: a vocabulary is small)."""
        found = self._memo.get(word)
        if found is not None:
            return found
        hits = list(self.by_word.get(word, ()))
        for n in self.stem_lengths:
            if n > len(word):
                break
            hits += self.by_stem.get(word[:n], ())
        if not hits and len(word) >= FUZZY_MIN_LEN:
            for key in self._near(word):
                hits += self.by_word.get(key, ())
                hits += self.by_stem.get(key, ())
        found = tuple(sorted(set(hits)))
        if len(self._memo) < 200_000:
            self._memo[word] = found
        return found

    def _near(self, word: str) -> set[str]:
        keys: set[str] = set()
        for d in _deletes(word):
            keys |= self.fuzzy.get(d, set())
        # a stem with one typo in a longer word: compare the word's prefixes around the stem's length
        for n in self.stem_lengths:
            if n < FUZZY_MIN_LEN or n > len(word) + 1:
                continue
            for prefix in (word[: n - 1], word[:n], word[: n + 1]):
                for d in _deletes(prefix):
                    keys |= {k for k in self.fuzzy.get(d, ()) if k in self.by_stem}
        return {k for k in keys if abs(len(k) - len(word)) <= 1 or k in self.by_stem}

    @staticmethod
    def _part_matches(part: Part, word: str) -> bool:
        return word.startswith(part.text) if part.stem else word == part.text

    def find(self, tokens: list[str]) -> list[tuple[int, int, object]]:
        out = []
        for i, word in enumerate(tokens):
            for c in self._first(word):
                parts, target = self.cues[c]
                end = i + len(parts)
                if end <= len(tokens) and all(self._part_matches(p, tokens[i + k]) for k, p in enumerate(parts[1:], 1)):
                    out.append((i, end, target))
        return out


def _cue_list(value: object) -> list[str]:
    return [str(v) for v in (value or [])]


@dataclass(frozen=True)
class Topic:
    key: str
    label_en: str
    label_fr: str
    definition: str


@dataclass(frozen=True)
class Analysis:
    language: str
    language_detected: bool
    sentiment_score: float  # in [-1, 1]
    sentiment: str  # negative | neutral | positive
    topics: tuple[str, ...]


class Analyser:
    """The lexicon analyser, loaded once from taxonomy.yaml and sentiment.yaml."""

    def __init__(self, taxonomy_text: str, sentiment_text: str) -> None:
        taxonomy = yaml.safe_load(taxonomy_text)["topics"]
        lexicon = yaml.safe_load(sentiment_text)
        self.topics = {
            key: Topic(key, t["label_en"], t["label_fr"], " ".join(str(t["definition"]).split()))
            for key, t in taxonomy.items()
        }
        self.topic_cues = CueIndex((cue, key) for key, t in taxonomy.items() for cue in _cue_list(t["cues"]))
        self.weak_cues = CueIndex((cue, key) for key, t in taxonomy.items() for cue in _cue_list(t.get("weak_cues")))
        self.valence = CueIndex((cue, float(v)) for cue, v in lexicon["valence"].items())
        self.negators = frozenset(w for n in _cue_list(lexicon["negators"]) for w in words(n))
        self.intensifiers = {tuple(words(k)): float(v) for k, v in lexicon["intensifiers"].items()}
        self.contrast = [tuple(words(c)) for c in _cue_list(lexicon["contrast"])]
        self.ironic = CueIndex((cue, True) for cue in _cue_list(lexicon.get("ironic")))
        digest = hashlib.sha256((taxonomy_text + "\0" + sentiment_text).encode()).hexdigest()[:12]
        self.version = f"{ANALYSER}+{digest}"

    def language(self, tokens: list[str], text: str) -> str:
        fr = sum(t in _FR_WORDS for t in tokens) + min(3, sum(c in "éèêàùçâîôû" for c in text.lower()))
        en = sum(t in _EN_WORDS for t in tokens)
        return "en" if en > fr else "fr"

    def _multiplier(self, tokens: list[str], start: int) -> float:
        for size in (2, 1):
            if start - size >= 0 and (m := self.intensifiers.get(tuple(tokens[start - size : start]))):
                return m
        return 1.0

    def _contrast_at(self, tokens: list[str]) -> int | None:
        last = None
        for i in range(len(tokens)):
            for c in self.contrast:
                if tuple(tokens[i : i + len(c)]) == c:
                    last = i + len(c)
        return last

    def sentiment(self, tokens: list[str]) -> tuple[float, float]:
        """The score in [-1, 1] and the strongest valence of a single cue (absolute)."""
        matches = self.valence.find(tokens)
        # the longest cue wins where cues overlap
        matches.sort(key=lambda m: (m[0], -(m[1] - m[0])))
        covered_until = -1
        pivot = self._contrast_at(tokens)
        ironic_starts = {start for start, _, _ in self.ironic.find(tokens)}
        total, ironic, negative = 0.0, 0.0, 0.0
        for start, end, value in matches:
            if start < covered_until:
                continue
            covered_until = end
            v = float(value) * self._multiplier(tokens, start)
            window = tokens[max(0, start - NEGATION_WINDOW) : start]
            if any(w in self.negators for w in window):
                v *= NEGATION
            if pivot is not None:
                v *= CONTRAST_AFTER if start >= pivot else CONTRAST_BEFORE
            if v > 0 and start in ironic_starts:
                ironic += v
            else:
                total += v
                negative += min(v, 0.0)
        # "Génial." after a wait of an hour: praise in an answer that is otherwise clearly negative is irony
        total += -ironic if negative <= -IRONY_NEGATIVE else ironic
        if tokens.count("?") >= 2:  # "je fais comment moi ???"
            total += QUESTIONS
        bangs = min(3, tokens.count("!"))
        total *= 1 + 0.1 * bangs
        strongest = max((abs(float(v)) for _, _, v in matches), default=0.0)
        return total / math.sqrt(total * total + 15), strongest

    def analyse(self, text: str, language: str | None = None) -> Analysis:
        tokens = words(text)
        detected = language not in ("fr", "en")
        lang = self.language(tokens, text) if detected else language
        raw, strongest = self.sentiment(tokens)
        score = round(raw, 4)
        label = "negative" if score < -NEGATIVE_BELOW else "positive" if score > POSITIVE_ABOVE else "neutral"
        found = {str(t) for _, _, t in self.topic_cues.find(tokens)}
        if strongest >= JUDGEMENT:
            found |= {str(t) for _, _, t in self.weak_cues.find(tokens)}
        topics = tuple(sorted(found))
        return Analysis(str(lang), detected, score, label, topics)


def _read(name: str) -> str:
    return resources.files("transforms.verbatims").joinpath(name).read_text(encoding="utf-8")


@cache
def analyser() -> Analyser:
    """The analyser of the lexicon files shipped with the project."""
    return Analyser(_read("taxonomy.yaml"), _read("sentiment.yaml"))
