"""One language's concept file, validated and built into its concepts, modifiers and rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import product
from typing import Any

from flows.severity import Severity
from flows.textfold import normalize
from flows.triage.concept_rules import (
    _DIRECTIONS,
    _EFFECTS,
    DROP,
    KEEP,
    POSSIBLE,
    STEMMERS,
    STEMS,
    ConceptError,
    Language,
    Modifier,
    Rule,
    _Term,
    _Word,
)

_TOP_KEYS = frozenset(
    {"language", "gap", "emoji", "terminators", "pseudo", "concepts", "modifiers", "experiencer", "rules"}
)
_MOD_KEYS = frozenset(
    {"effect", "direction", "cues", "window", "lexicon", "categories", "whole_message", "clauses"}
)
_RULE_KEYS = frozenset({"category", "severity", "all", "within", "possible"})
_WORD = re.compile(r"[a-z0-9']+")
_PIECE = re.compile(r"\([^)]*\)?\??|[^\s()]+")


class _Builder:
    def __init__(self, language: str, data: Mapping[str, Any], source: str) -> None:
        self.language, self.data, self.source = language, data, source
        self.gap = 2

    def fail(self, where: str, why: str) -> ConceptError:
        return ConceptError(f"{self.source}: {where}: {why}")

    def strings(self, value: Any, where: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of terms (quote each one)")
        return value

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping")
        return value

    def word(self, token: str, where: str) -> _Word:
        options: list[tuple[str, str]] = []
        for alt in token.split("|"):
            if alt == "<year>":
                options.append(("year", ""))
                continue
            kind = "exact" if alt.startswith("=") else "prefix" if alt.endswith("*") else "stem"
            bare = normalize(alt.strip("=*")).replace(" ", "")
            if not bare or not _WORD.fullmatch(bare):
                raise self.fail(where, f"cannot use {alt!r} as a word")
            value = STEMS.stem(self.language, bare) if kind == "stem" else bare
            options.append((kind, value))
        return _Word.of(options)

    def term(self, text: str, where: str) -> list[_Term]:
        """One term, or several when it has (a b|c d) groups: one per combination."""
        pieces: list[list[list[str]]] = []  # per place: alternatives, each a list of words
        gap = self.gap
        for m in _PIECE.finditer(text):
            piece = m.group()
            if piece == "...":
                gap = 5
            elif piece == "+":
                pieces.append([["+"]])
            elif piece.startswith("("):
                optional = piece.endswith(")?")
                inner = piece[1:-2] if optional else piece[1:-1]
                if not (piece.endswith((")", ")?"))) or not inner.strip():
                    raise self.fail(
                        where, f"{text!r}: a group is (words|other words), or (words)? if optional"
                    )
                alternatives = [alt.split() for alt in inner.split("|")]
                if any(not alt for alt in alternatives):
                    raise self.fail(
                        where, f"{text!r}: an empty alternative (use (words)? for optional words)"
                    )
                pieces.append([*alternatives, []] if optional else alternatives)
            else:
                pieces.append([[piece]])
        terms = []
        for combo in product(*pieces):
            words: list[_Word] = []
            gaps: list[int] = []
            tight = False
            for w in (w for alt in combo for w in alt):
                if w == "+":
                    tight = True
                    continue
                if words:
                    gaps.append(0 if tight else gap)
                words.append(self.word(w, where))
                tight = False
            if words:
                terms.append(_Term(text, tuple(words), tuple(gaps)))
        if not terms:
            raise self.fail(where, f"{text!r}: an empty term")
        return terms

    def terms(self, value: Any, where: str) -> tuple[_Term, ...]:
        return tuple(
            term for i, t in enumerate(self.strings(value, where)) for term in self.term(t, f"{where}[{i}]")
        )

    def build(self) -> Language:
        data = self.mapping(self.data, "top level")
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise self.fail("top level", f"unknown key(s) {unknown}; allowed: {sorted(_TOP_KEYS)}")
        if data.get("language", self.language) != self.language:
            raise self.fail(
                "language", f"says {data.get('language')!r} but the file is for {self.language!r}"
            )
        if self.language not in STEMMERS:
            raise self.fail("language", f"no stemmer for {self.language!r} (have {sorted(STEMMERS)})")
        gap = data.get("gap", 2)
        if not isinstance(gap, int) or isinstance(gap, bool) or not 0 <= gap <= 6:
            raise self.fail("gap", "expected a whole number of words, 0 to 6")
        self.gap = gap
        emoji = {str(k): str(v) for k, v in self.mapping(data.get("emoji"), "emoji").items()}
        concepts: dict[str, tuple[_Term, ...]] = {}
        exclusions: dict[str, tuple[_Term, ...]] = {}
        for name, raw in self.mapping(data.get("concepts"), "concepts").items():
            where = f"concepts.{name}"
            texts = self.strings(raw, where)
            concepts[str(name)] = self.terms([t for t in texts if not t.startswith("!")], where)
            exclusions[str(name)] = self.terms([t[1:] for t in texts if t.startswith("!")], f"{where} (!)")
        for name, terms in concepts.items():
            if not terms:
                raise self.fail(f"concepts.{name}", "a concept needs at least one term")
        modifiers = []
        for name, raw in self.mapping(data.get("modifiers"), "modifiers").items():
            spec = self.mapping(raw, f"modifiers.{name}")
            if set(spec) - _MOD_KEYS:
                raise self.fail(f"modifiers.{name}", f"unknown key(s); allowed: {sorted(_MOD_KEYS)}")
            effect, direction = spec.get("effect", DROP), spec.get("direction", "forward")
            by_severity = effect if isinstance(effect, Mapping) else {"critical": effect, "high": effect}
            if set(by_severity) - {"critical", "high"} or not all(
                v in _EFFECTS for v in by_severity.values()
            ):
                raise self.fail(
                    f"modifiers.{name}.effect", "expected drop, possible or keep, or {critical: .., high: ..}"
                )
            if direction not in _DIRECTIONS:
                raise self.fail(f"modifiers.{name}.direction", f"expected one of {list(_DIRECTIONS)}")
            cues = self.terms(spec.get("cues"), f"modifiers.{name}.cues")
            window, lexicon = spec.get("window", 8), spec.get("lexicon", True)
            if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 20:
                raise self.fail(f"modifiers.{name}.window", "expected a whole number of words, 0 to 20")
            if not isinstance(lexicon, bool):
                raise self.fail(f"modifiers.{name}.lexicon", "expected true or false")
            critical, high = by_severity.get("critical", DROP), by_severity.get("high", DROP)
            high = KEEP if high == POSSIBLE else high
            only = frozenset(self.strings(spec.get("categories"), f"modifiers.{name}.categories"))
            whole = spec.get("whole_message", False)
            if not isinstance(whole, bool):
                raise self.fail(f"modifiers.{name}.whole_message", "expected true or false")
            reach = spec.get("clauses", 0)
            if not isinstance(reach, int) or isinstance(reach, bool) or not 0 <= reach <= 5:
                raise self.fail(f"modifiers.{name}.clauses", "expected a whole number of clauses, 0 to 5")
            modifiers.append(
                Modifier(str(name), critical, high, direction, cues, window, lexicon, only, whole, reach)
            )
        people = self.mapping(data.get("experiencer"), "experiencer")
        rules = tuple(self.rule(r, f"rules[{i}]", concepts) for i, r in enumerate(data.get("rules") or []))
        return Language(
            language=self.language,
            emoji=emoji,
            terminators=self.terms(data.get("terminators"), "terminators"),
            concepts=concepts,
            exclusions=exclusions,
            modifiers=tuple(modifiers),
            pseudo=self.terms(data.get("pseudo"), "pseudo"),
            self_words=self.terms(people.get("self"), "experiencer.self"),
            other_words=self.terms(people.get("other"), "experiencer.other"),
            rules=rules,
        )

    def rule(self, raw: Any, where: str, concepts: Mapping[str, Any]) -> Rule:
        spec = self.mapping(raw, where)
        if set(spec) - _RULE_KEYS:
            raise self.fail(where, f"unknown key(s); allowed: {sorted(_RULE_KEYS)}")
        try:
            severity = Severity(str(spec.get("severity")))
        except ValueError:
            raise self.fail(where, "severity must be critical or high") from None
        if severity not in (Severity.CRITICAL, Severity.HIGH):
            raise self.fail(where, "severity must be critical or high")
        category = spec.get("category")
        if not isinstance(category, str) or not category:
            raise self.fail(where, "a rule needs a category")
        needs = []
        for slot in self.strings(spec.get("all"), f"{where}.all"):
            names = tuple(slot.split("|"))
            for name in names:
                if name not in concepts:
                    raise self.fail(where, f"unknown concept {name!r} (define it under concepts:)")
            needs.append(names)
        if not needs:
            raise self.fail(where, "a rule needs at least one concept under all:")
        within = spec.get("within", "clause")
        if within not in ("clause", "message"):
            raise self.fail(f"{where}.within", "expected clause or message")
        possible = spec.get("possible", False)
        if not isinstance(possible, bool) or (possible and severity is not Severity.CRITICAL):
            raise self.fail(f"{where}.possible", "possible: true is for critical rules only")
        return Rule(category, severity, tuple(needs), within == "message", possible)
