"""One language's lexicon file, validated and compiled: categories, negation, denials, idioms."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flows.severity import Severity
from flows.triage.keys import _KeyPlanner
from flows.triage.phrases import (
    _GAP_RX,
    _SEP,
    _Alt,
    _AnyWord,
    _End,
    _expand,
    _Gap,
    _Lit,
    _literal_rx,
    _min_words,
    _parse,
    _Ref,
    _Seq,
)
from flows.triage.result import LexiconError


@dataclass(frozen=True, slots=True)
class _Phrase:
    source: str  # as written in the lexicon file
    seq: _Seq
    rx: re.Pattern[str]
    slots: tuple[frozenset[str], ...]  # gate keys: see `_KeyPlanner.gate`
    anchored: bool


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    severity: Severity
    negatable: bool
    phrases: tuple[_Phrase, ...]
    unless_followed_by: re.Pattern[str] | None  # this category's own "but I didn't" cues


@dataclass(frozen=True, slots=True)
class Lexicon:
    """One language's red-flag phrases, negation cues, denials and idioms, compiled."""

    language: str
    categories: tuple[Category, ...]
    negation_window: int
    negation_before: re.Pattern[str]
    negation_after: re.Pattern[str]
    pseudo_negation: re.Pattern[str]
    clause_break: re.Pattern[str]
    denials: tuple[_Phrase, ...]
    denial_breakers: tuple[_Phrase, ...]
    safe: tuple[_Phrase, ...]
    groups: Mapping[str, Sequence[_Seq]] = field(repr=False)

    @classmethod
    def from_mapping(cls, language: str, data: Mapping[str, Any], source: str = "<lexicon>") -> Lexicon:
        """Validate and compile one lexicon file's content; errors name the file and entry."""
        return _LexiconBuilder(language, data, source).build()

    def literal_phrases(self, cap: int = 12) -> dict[str, list[str]]:
        """Plain spellings of each category's phrases, wildcards dropped and at most `cap` per
        phrase: what a naive substring scan would look for (the benchmark's baseline)."""
        out: dict[str, list[str]] = {}
        for category in self.categories:
            spelled = {x for phrase in category.phrases for x in _expand(phrase.seq, self.groups, cap) if x}
            out[category.name] = sorted(spelled)
        return out


_TOP_KEYS = frozenset({"language", "groups", "categories", "negation", "denials", "safe"})
_NEGATION_KEYS = frozenset({"window", "before", "after", "pseudo", "clause_breaks"})
_DENIAL_KEYS = frozenset({"phrases", "unless_followed_by"})
_CATEGORY_KEYS = frozenset({"severity", "negatable", "phrases", "unless_followed_by"})


class _LexiconBuilder:
    def __init__(self, language: str, data: Mapping[str, Any], source: str) -> None:
        self.language, self.data, self.source = language, data, source
        self.groups: dict[str, list[_Seq]] = {}
        self.planner = _KeyPlanner(self.groups)
        self.end_rx = "(?!)"
        self._group_rx: dict[str, str] = {}

    def fail(self, where: str, why: str) -> LexiconError:
        return LexiconError(f"{self.source}: {where}: {why}")

    def mapping(self, value: Any, where: str, allowed: frozenset[str] | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping of keys to values")
        unknown = sorted(set(value) - allowed) if allowed is not None else []
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed or ())}")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of phrases (quote each one)")
        return value

    def parse(self, phrase: str, where: str, *, follower: bool = False) -> _Seq:
        """`follower` phrases are checked right after a match, so they may start with '...'."""
        try:
            seq = _parse(phrase, follower=follower)
            self.check_refs(seq)
        except LexiconError as exc:
            raise self.fail(where, f"{phrase!r}: {exc}") from None
        return seq

    def check_refs(self, seq: _Seq) -> None:
        for node in seq:
            if isinstance(node, _Ref) and node.name not in self.groups:
                raise LexiconError(f"unknown group @{node.name} (define a group above its first use)")
            if isinstance(node, _Alt):
                for option in node.options:
                    self.check_refs(option)

    def rx(self, seq: _Seq, sep: str = " ") -> str:
        """Regex of a phrase; `sep` goes before its first word. Separators sit outside
        alternations, so each alternative starts with a letter the regex engine rejects at once."""
        parts: list[str] = []
        for node in seq:
            if isinstance(node, _Lit):
                parts.append(sep + _literal_rx(node))
            elif isinstance(node, _AnyWord):
                parts.append(sep + r"[\w']+")
            elif isinstance(node, _Gap):
                parts.append(_GAP_RX)
            elif isinstance(node, _End):
                parts.append(self.end_rx)
                continue
            else:
                options = node.options if isinstance(node, _Alt) else self.groups[node.name]
                optional = isinstance(node, _Alt) and node.optional
                if any(isinstance(o[0], _End) for o in options):
                    # "($|again)": the end-of-sentence check looks before the separator
                    parts.append("(?:" + "|".join(self.rx(o, sep) for o in options) + ")" + "?" * optional)
                    if optional:
                        continue
                elif optional:
                    inner = "(?:" + "|".join(self.rx(o, "") for o in options) + ")"
                    # absent, the next word keeps this separator; present, it needs its own
                    parts.append(f"(?:{sep}{inner})?" if sep else f"(?:{inner}{_SEP})?")
                    continue
                else:
                    parts.append(sep + self.alternatives(node, options))
            sep = _SEP
        return "".join(parts)

    def alternatives(self, node: _Alt | _Ref, options: Sequence[_Seq]) -> str:
        if isinstance(node, _Ref):
            if node.name not in self._group_rx:
                self._group_rx[node.name] = "(?:" + "|".join(self.rx(o, "") for o in options) + ")"
            return self._group_rx[node.name]
        return "(?:" + "|".join(self.rx(o, "") for o in options) + ")"

    def phrase(self, text: str, where: str, *, follower: bool = False) -> _Phrase:
        seq = self.parse(text, where, follower=follower)
        if _min_words(seq, self.groups) == 0:
            raise self.fail(where, f"{text!r} can match nothing at all; make at least one word required")
        rx = re.compile(self.rx(seq, _SEP if follower else " "))
        return _Phrase(text, seq, rx, *self.planner.gate(seq))

    def alternation(self, phrases: Sequence[str], where: str, *, follower: bool = False) -> re.Pattern[str]:
        sep = _SEP if follower else " "
        rxs = [self.rx(self.parse(p, f"{where}[{i}]", follower=follower), sep) for i, p in enumerate(phrases)]
        return re.compile("|".join(f"(?:{r})" for r in rxs) if rxs else "(?!)")

    def build(self) -> Lexicon:
        data = self.mapping(self.data, "top level", _TOP_KEYS)
        declared = data.get("language", self.language)
        if declared != self.language:
            raise self.fail("language", f"says {declared!r} but the file is for {self.language!r}")
        negation = self.mapping(data.get("negation"), "negation", _NEGATION_KEYS)
        breaks = self.strings(negation.get("clause_breaks"), "negation.clause_breaks")
        break_rx = "|".join(
            self.rx(self.parse(b, f"negation.clause_breaks[{i}]")) for i, b in enumerate(breaks)
        )
        self.end_rx = r"(?=$| \.(?: |$)" + (f"|(?:{break_rx})(?!\\w)" if break_rx else "") + ")"
        for name, phrases in self.mapping(data.get("groups"), "groups", None).items():
            if not re.fullmatch(r"\w+", str(name)):
                raise self.fail(f"groups.{name}", "group names are letters, digits and _ only")
            seqs = [
                self.parse(p, f"groups.{name}[{i}]")
                for i, p in enumerate(self.strings(phrases, f"groups.{name}"))
            ]
            if not seqs:
                raise self.fail(f"groups.{name}", "a group needs at least one phrase")
            self.groups[str(name)] = seqs
        categories = self.categories(data.get("categories"))
        window = negation.get("window", 3)
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 12:
            raise self.fail("negation.window", "expected a whole number of words, 0 to 12")
        denials = self.mapping(data.get("denials"), "denials", _DENIAL_KEYS)
        deny = self.strings(denials.get("phrases"), "denials.phrases")
        breakers = self.strings(denials.get("unless_followed_by"), "denials.unless_followed_by")
        safe = self.strings(data.get("safe"), "safe")
        return Lexicon(
            language=self.language,
            categories=categories,
            negation_window=window,
            negation_before=self.alternation(
                self.strings(negation.get("before"), "negation.before"), "negation.before"
            ),
            negation_after=self.alternation(
                self.strings(negation.get("after"), "negation.after"), "negation.after", follower=True
            ),
            pseudo_negation=self.alternation(
                self.strings(negation.get("pseudo"), "negation.pseudo"), "negation.pseudo"
            ),
            clause_break=re.compile(r" \.(?= |$)" + (f"|(?:{break_rx})(?!\\w)" if break_rx else "")),
            denials=tuple(self.phrase(p, f"denials.phrases[{i}]") for i, p in enumerate(deny)),
            denial_breakers=tuple(
                self.phrase(p, f"denials.unless_followed_by[{i}]", follower=True)
                for i, p in enumerate(breakers)
            ),
            safe=tuple(self.phrase(p, f"safe[{i}]") for i, p in enumerate(safe)),
            groups=self.groups,
        )

    def categories(self, value: Any) -> tuple[Category, ...]:
        if not isinstance(value, Mapping) or not value:
            raise self.fail("categories", "expected at least one category")
        out: list[Category] = []
        for name, raw in value.items():
            where = f"categories.{name}"
            spec = self.mapping(raw, where, _CATEGORY_KEYS)
            try:
                severity = Severity(str(spec.get("severity")))
            except ValueError:
                raise self.fail(where, "severity must be critical, high or medium") from None
            if severity is Severity.NONE:
                raise self.fail(where, "severity must be critical, high or medium")
            negatable = spec.get("negatable", severity is not Severity.CRITICAL)
            if not isinstance(negatable, bool):
                raise self.fail(where, "negatable must be true or false")
            if negatable and severity is Severity.CRITICAL:
                raise self.fail(where, "critical categories cannot be negatable; add clear denials instead")
            phrases = self.strings(spec.get("phrases"), f"{where}.phrases")
            if not phrases:
                raise self.fail(where, "a category needs at least one phrase")
            compiled = tuple(self.phrase(p, f"{where}.phrases[{i}]") for i, p in enumerate(phrases))
            after = self.strings(spec.get("unless_followed_by"), f"{where}.unless_followed_by")
            if after and not negatable:
                raise self.fail(where, "unless_followed_by needs a negatable (high or medium) category")
            after_rx = (
                self.alternation(after, f"{where}.unless_followed_by", follower=True) if after else None
            )
            out.append(Category(str(name), severity, negatable, compiled, after_rx))
        return tuple(out)
