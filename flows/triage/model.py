"""The statistical recall net of free-text triage: a linear model over word and character n-grams.

Pure Python at run time (no numpy, no scikit-learn): `TriageModel.load` reads the weights from
`config/triage/model.json`, written by `flows.triage.training` (`peerline triage train`), and
`score` returns the probability that a text is critical and that it needs a human (high or
critical). The model may only ever raise a severity the lexicon gave, never lower it
(`TriageModel.raise_severity`).

Featurization, shared exactly by training and scoring (`featurize`): `flows.triage.normalize`,
then per word (the `.` punctuation token excluded) the word itself and its character n-grams
inside the word padded with one space each side (like scikit-learn's `char_wb`), plus the word
bigrams that no punctuation separates. Features are binary and L2-normalised over the ones the
vocabulary knows; each head is a logistic regression, sigmoid(w·x + b).

Scoring caches each word's features (as vocabulary indices), so a typical message costs a few
dict look-ups per word and one sum per head.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from flows.severity import Severity, max_severity
from flows.textfold import normalize

FORMAT = 1
HEADS = ("critical", "alert")  # alert: high or critical, a human must look


@dataclass(frozen=True, slots=True)
class ModelScore:
    """The statistical model's probabilities for one text: critical, and any alert (high or critical)."""

    critical: float
    alert: float
    version: str


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class FeatureParams:
    """How a text becomes features; stored in the model file so scoring featurizes as training did."""

    char_min: int = 3
    char_max: int = 5
    bigrams: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"char_ngrams": [self.char_min, self.char_max], "word_bigrams": self.bigrams}

    @classmethod
    def from_json(cls, data: Any) -> FeatureParams:
        if not isinstance(data, Mapping) or set(data) != {"char_ngrams", "word_bigrams"}:
            raise ValueError('"features" must have exactly "char_ngrams" and "word_bigrams"')
        grams, bigrams = data["char_ngrams"], data["word_bigrams"]
        if (
            not isinstance(grams, list)
            or len(grams) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in grams)
            or not 1 <= grams[0] <= grams[1] <= 10
        ):
            raise ValueError('"features.char_ngrams" must be [min, max] with 1 <= min <= max <= 10')
        if not isinstance(bigrams, bool):
            raise ValueError('"features.word_bigrams" must be true or false')
        return cls(grams[0], grams[1], bigrams)


# Feature names: a prefix tells the kinds apart ("w:kms", "c: km", "b:want die").


def word_features(word: str, params: FeatureParams) -> list[str]:
    """The word itself and its character n-grams, the word padded with a space each side."""
    padded = f" {word} "
    out = [f"w:{word}"]
    for n in range(params.char_min, min(params.char_max, len(padded)) + 1):
        out += [f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1)]
    return out


def _bigrams(tokens: Sequence[str]) -> list[str]:
    return [f"b:{a} {b}" for a, b in pairwise(tokens) if a != "." and b != "."]


def featurize(text: str, params: FeatureParams) -> frozenset[str]:
    """Every feature of a text (binary: each counts once). Training uses exactly this, and
    `TriageModel.score` computes the same from the same `word_features`."""
    return featurize_normalized(normalize(text), params)


def featurize_normalized(norm: str, params: FeatureParams) -> frozenset[str]:
    tokens = norm.split(" ") if norm else []
    out: set[str] = set()
    for word in tokens:
        if word != ".":
            out.update(word_features(word, params))
    if params.bigrams:
        out.update(_bigrams(tokens))
    return frozenset(out)


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True, slots=True)
class Head:
    weights: tuple[float, ...]
    intercept: float
    threshold: float


_CACHE_LIMIT = 50_000
_WordEntry = tuple[frozenset[int], float, float]


class TriageModel:
    """A loaded model: `score(text)`, and `severity`/`raise_severity` against its thresholds."""

    def __init__(
        self,
        *,
        version: str,
        params: FeatureParams,
        vocabulary: Sequence[str],
        critical: Head,
        alert: Head,
        corpus_sha256: str = "",
    ) -> None:
        if len(critical.weights) != len(vocabulary) or len(alert.weights) != len(vocabulary):
            raise ValueError("every head needs one weight per vocabulary entry")
        self.version = version
        self.params = params
        self.vocabulary = tuple(vocabulary)
        self.critical = critical
        self.alert = alert
        self.corpus_sha256 = corpus_sha256
        self.index = {f: i for i, f in enumerate(self.vocabulary)}
        self._wc = critical.weights
        self._wa = alert.weights
        # word bigrams by their two words; a pair across punctuation is never in the vocabulary
        self._bigrams = {
            (a, b): i
            for f, i in self.index.items()
            if f.startswith("b:")
            for a, _, b in (f[2:].partition(" "),)
        }
        # word -> its features' indices and weight sums; pure, so safe to share and to reset
        self._by_word: dict[str, _WordEntry] = {}

    # --- loading ----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> TriageModel:
        """Read a model file (`config/triage/model.json`); a bad file raises `ModelError` naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelError(f"{path}: cannot read the triage model: {exc.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: not a valid JSON triage model: {exc}") from None
        try:
            return cls.from_json(data)
        except ValueError as exc:
            raise ModelError(f"{path}: {exc} (rebuild it with `peerline triage train`)") from None

    @classmethod
    def from_json(cls, data: Any) -> TriageModel:
        """A model from its JSON form (what `flows.triage.training.train` returns)."""
        if not isinstance(data, Mapping):
            raise ValueError("expected a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f'"format" must be {FORMAT}, found {data.get("format")!r}')
        for key in ("version", "corpus_sha256"):
            if not isinstance(data.get(key), str):
                raise ValueError(f'"{key}" must be a string')
        params = FeatureParams.from_json(data.get("features"))
        vocabulary = data.get("vocabulary")
        if not isinstance(vocabulary, list) or not all(isinstance(f, str) for f in vocabulary):
            raise ValueError('"vocabulary" must be a list of strings')
        if any(a >= b for a, b in pairwise(vocabulary)):
            raise ValueError('"vocabulary" must be sorted, without repeats')
        heads = data.get("heads")
        if not isinstance(heads, Mapping) or set(heads) != set(HEADS):
            raise ValueError(f'"heads" must have exactly {", ".join(HEADS)}')
        parsed = {name: _head(name, heads[name], len(vocabulary)) for name in HEADS}
        return cls(
            version=data["version"],
            params=params,
            vocabulary=vocabulary,
            critical=parsed["critical"],
            alert=parsed["alert"],
            corpus_sha256=data["corpus_sha256"],
        )

    # --- scoring ----------------------------------------------------------------------------

    def _word_entry(self, word: str) -> _WordEntry:
        """A word's feature indices and the sum of their weights in each head (cached)."""
        if len(self._by_word) > _CACHE_LIMIT:
            self._by_word.clear()
        index = self.index
        found = frozenset(i for f in word_features(word, self.params) if (i := index.get(f)) is not None)
        entry = self._by_word[word] = (
            found,
            math.fsum(self._wc[i] for i in found),
            math.fsum(self._wa[i] for i in found),
        )
        return entry

    def indices(self, text: str) -> frozenset[int]:
        """Vocabulary indices of the features of `text`: `featurize` restricted to the vocabulary
        (what `score` sums the weights of, computed the slow, obvious way)."""
        return frozenset(self.index[f] for f in featurize(text, self.params) if f in self.index)

    def score(self, text: str) -> ModelScore:
        return self.score_normalized(normalize(text))

    def score_normalized(self, norm: str) -> ModelScore:
        """`score` of a text already passed through `flows.triage.normalize` (the lexicon has
        normalised it anyway: normalising costs about as much as scoring)."""
        tokens = norm.split(" ") if norm else []
        wc, wa, by_word = self._wc, self._wa, self._by_word
        # Sum each word's precomputed weights, then take back the features an earlier word of the
        # text already had: binary features count once, exactly as `featurize` sees them.
        seen: set[int] = set()
        zc, za = 0.0, 0.0
        for word in dict.fromkeys(tokens):
            if word == ".":
                continue
            entry = by_word.get(word) or self._word_entry(word)
            found = entry[0]
            again = seen & found
            if again:
                for i in again:
                    zc -= wc[i]
                    za -= wa[i]
            zc += entry[1]
            za += entry[2]
            seen |= found
        n = len(seen)
        if self._bigrams and len(tokens) > 1:
            pairs = self._bigrams.keys() & pairwise(tokens)
            for pair in pairs:
                i = self._bigrams[pair]
                zc += wc[i]
                za += wa[i]
            n += len(pairs)
        if n:
            scale = 1.0 / math.sqrt(n)
            zc, za = zc * scale, za * scale
        return ModelScore(
            sigmoid(zc + self.critical.intercept), sigmoid(za + self.alert.intercept), self.version
        )

    def severity(self, score: ModelScore) -> Severity:
        """CRITICAL or HIGH when the score reaches that head's threshold, else NONE."""
        if score.critical >= self.critical.threshold:
            return Severity.CRITICAL
        if score.alert >= self.alert.threshold:
            return Severity.HIGH
        return Severity.NONE

    def raise_severity(self, severity: Severity, text: str) -> Severity:
        """`severity` (from the lexicon), raised if the model sees worse; never lowered."""
        if severity is Severity.CRITICAL:
            return severity
        return max_severity(severity, self.severity(self.score(text)))


def _head(name: str, raw: Any, size: int) -> Head:
    where = f'"heads.{name}"'
    if not isinstance(raw, Mapping) or set(raw) != {"weights", "intercept", "threshold"}:
        raise ValueError(f"{where} must have exactly weights, intercept and threshold")
    weights = raw["weights"]
    if not isinstance(weights, list) or len(weights) != size:
        raise ValueError(f"{where}.weights must be a list of {size} numbers, one per vocabulary entry")
    numbers = [*weights, raw["intercept"], raw["threshold"]]
    if not all(_finite(x) for x in numbers):
        raise ValueError(f"{where}: weights, intercept and threshold must be finite numbers")
    threshold = float(raw["threshold"])
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"{where}.threshold must be a probability between 0 and 1")
    return Head(tuple(float(w) for w in weights), float(raw["intercept"]), threshold)


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
