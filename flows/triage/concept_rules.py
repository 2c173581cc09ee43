"""The concept rules' parts (words, terms, modifiers, rules, findings) and the per-language stemmer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import snowballstemmer

from flows.severity import Severity

STEMMERS = {"en": "english", "es": "spanish"}
DROP, POSSIBLE, KEEP = "drop", "possible", "keep"
_EFFECTS = (DROP, POSSIBLE, KEEP)
_DIRECTIONS = ("forward", "backward", "both")


class ConceptError(ValueError):
    """A concept file that cannot be used; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class _Word:
    options: tuple[tuple[str, str], ...]  # (kind, value): "stem", "exact", "prefix" or "year"
    stems: frozenset[str] = frozenset()  # the same, by kind, for a quick test (see `_word_at`)
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    year: bool = False

    @classmethod
    def of(cls, options: Sequence[tuple[str, str]]) -> _Word:
        def pick(kind: str) -> list[str]:
            return [v for k, v in options if k == kind]

        return cls(
            tuple(options),
            frozenset(pick("stem")),
            frozenset(pick("exact")),
            tuple(pick("prefix")),
            any(k == "year" for k, _ in options),
        )


@dataclass(frozen=True, slots=True)
class _Term:
    source: str
    words: tuple[_Word, ...]
    gaps: tuple[int, ...]  # before each word after the first: words allowed in between


@dataclass(frozen=True, slots=True)
class Modifier:
    name: str
    critical: str  # its effect on a critical finding: DROP, POSSIBLE or KEEP
    high: str  # on a high one (POSSIBLE means KEEP there: high is already a page)
    direction: str
    cues: tuple[_Term, ...]
    window: int  # words between the cue and the finding, at most
    lexicon: bool  # applies to the lexicon's matches too
    categories: frozenset[str]  # only findings of these categories (empty: all)
    whole_message: bool  # its cues reach across clauses ("lo voy a matar, se comió mis tacos jaja")
    clauses: int  # or this many clauses away, across punctuation but never across "but" ("pero")

    def effect(self, severity: Severity) -> str:
        return self.critical if severity is Severity.CRITICAL else self.high


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    severity: Severity
    needs: tuple[tuple[str, ...], ...]  # every slot: one of these concepts
    within_message: bool
    possible: bool  # a critical rule that only ever says "possible crisis"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired: where, on which concepts, under which modifiers, about whom."""

    category: str
    severity: Severity
    start: int  # token positions, end exclusive
    end: int
    concepts: tuple[str, ...]
    modifiers: tuple[str, ...]
    effect: str  # the strongest modifier effect: DROP, POSSIBLE or KEEP
    experiencer: str  # "self" or "other"


@dataclass(frozen=True, slots=True)
class _Hit:
    concept: str
    start: int
    end: int
    words: tuple[str, ...] = ()  # as folded: the same words twice are one signal, not two
    at: frozenset[int] = frozenset()  # positions of the term's own words (not the words between)


@dataclass(frozen=True, slots=True)
class Language:
    """One concept file, compiled."""

    language: str
    emoji: Mapping[str, str]
    terminators: tuple[_Term, ...]
    concepts: Mapping[str, tuple[_Term, ...]]
    exclusions: Mapping[str, tuple[_Term, ...]]  # "!jump rope": a "rope" inside it is no means
    modifiers: tuple[Modifier, ...]
    pseudo: tuple[_Term, ...]
    self_words: tuple[_Term, ...]
    other_words: tuple[_Term, ...]
    rules: tuple[Rule, ...]


class _Stems:
    """token -> stem, per language; words repeat across messages, so this is mostly dict hits."""

    def __init__(self) -> None:
        self._stemmers = {lang: snowballstemmer.stemmer(name) for lang, name in STEMMERS.items()}
        self._cache: dict[str, dict[str, str]] = {lang: {} for lang in STEMMERS}

    def stem(self, lang: str, token: str) -> str:
        cache = self._cache[lang]
        got = cache.get(token)
        if got is None:
            if len(cache) > 100_000:
                cache.clear()
            got = cache[token] = str(self._stemmers[lang].stemWord(token))
        return got


STEMS = _Stems()
