"""Concept rules in the ConText style: concepts matched in any person and with words in between,
modifiers scoped to their clause, an experiencer on each finding, and rules that compose concepts.

Pure logic: the only I/O is reading `config/triage/concepts/<lang>.yaml` in `ConceptSet.load`.

A message is folded (`flows.triage.normalize`, after the listed emoji become words), split into
tokens, and each token stemmed per language (snowball), so "relapsed", "relapsing" and "relapses"
are one word to a concept and "voy a ponerme" is "pon". Every language's concepts are tried on
every message: Spanglish needs both.

- A concept is a list of terms; a term is words in order, in one clause, with up to `gap` other
  words between two of them ("my chest is so tight" matches "chest tight").
- A modifier is a list of cue terms with a direction (`forward`: concepts after the cue in its
  clause, `backward`: before it, `both`) and an effect: `drop` (the finding does not count:
  history, media, a reported denial, a hypothetical, hyperbole) or `possible` (a critical finding
  becomes a "possible crisis", paged at high: negation and hedging never silence a crisis word).
  Clauses end at punctuation and at the file's `terminators` ("but", "pero").
- The experiencer of a finding is "other" when the nearest person word before it in its clause,
  or a reflexive inside it, is third person ("my son says he...", "se va a matar"), else "self".
- A rule names a category, a severity and the concepts that must all be found (`a|b`: either),
  in one clause or anywhere in the message (`within: message`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, NamedTuple

import snowballstemmer
import yaml

from flows.common_words import COMMON
from flows.severity import Severity
from flows.textfold import normalize

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


# --- matching --------------------------------------------------------------------------------

_Label = tuple[str, str]  # ("concept", name), ("modifier", name), ("self" | "other", "")


class _Words:
    """Every distinct word of one language's terms, by id, and each token of a message read once
    (cached) as the ids of the words it is: a message then costs a dict hit per token."""

    def __init__(self, language: str, words: Iterable[_Word]) -> None:
        self.language = language
        self.ids: dict[_Word, int] = {}
        for word in words:
            self.ids.setdefault(word, len(self.ids))
        # how a token is found to be a word: by its stem, by itself, by a prefix, as a year
        self.by_stem: dict[str, list[int]] = {}
        self.by_exact: dict[str, list[int]] = {}
        self.by_prefix: dict[str, list[int]] = {}
        self.years = tuple(w for word, w in self.ids.items() if word.year)
        for word, w in self.ids.items():
            for value in word.stems:
                self.by_stem.setdefault(value, []).append(w)
            for value in word.exact:
                self.by_exact.setdefault(value, []).append(w)
            for value in word.prefixes:
                self.by_prefix.setdefault(value, []).append(w)
        self.prefix_lengths = sorted({len(p) for p in self.by_prefix})
        # token -> its `_Token`; the stem is fixed for a language, so this is per language.
        # Entries are only added whole and it is reset when large: safe to share
        self._seen: dict[str, _Token] = {}

    def word_ids(self, token: str, stem: str) -> frozenset[int]:
        """The ids of the words `token` (stemmed `stem`) is: exactly those `_word_at` accepts."""
        found = {*self.by_stem.get(stem, ()), *self.by_exact.get(token, ())}
        for n in self.prefix_lengths:
            if n > len(token):
                break
            found.update(self.by_prefix.get(token[:n], ()))
        if self.years and _is_year(token):
            found.update(self.years)
        return frozenset(found)

    def token(self, token: str) -> _Token:
        got = self._seen.get(token)
        if got is None:
            if len(self._seen) > 50_000:
                self._seen.clear()
            stem = STEMS.stem(self.language, token)
            got = self._seen[token] = _Token(stem, self.word_ids(token, stem))
        return got

    def read(self, tokens: Sequence[str]) -> list[_Token]:
        seen = self._seen
        return [seen.get(t) or self.token(t) for t in tokens]


class _Token(NamedTuple):
    """One token as a language reads it."""

    stem: str
    ids: frozenset[int]  # the words it is (`_Words`)


class _Keyed(NamedTuple):
    """The terms gated on one key word, with their other words as bit sets over those terms."""

    terms: tuple[int, ...]
    every: int  # a bit per term
    needs: tuple[tuple[int, int], ...]  # (word id, the bits of the terms that need it)
    needed: frozenset[int]  # those word ids: a message with all of them tries every term


class _Terms:
    """Terms keyed by their least common word (`flows.common_words`): a message only tries the
    terms whose key word occurs in it and all of whose other words occur in it too, and those
    only where their first word occurs. The words of all the terms keyed on one word are few
    (a concept's alternatives multiply into many terms of the same words), so a message tests
    each such word once for all of those terms."""

    def __init__(self, words: _Words, labelled: Iterable[tuple[_Label, _Term]]) -> None:
        self.terms = list(labelled)
        self.words = [tuple(words.ids[w] for w in term.words) for _, term in self.terms]
        by_key: dict[int, list[int]] = {}
        for n, (_, term) in enumerate(self.terms):
            by_key.setdefault(words.ids[_key_word(term)], []).append(n)
        self.by_key: dict[int, _Keyed] = {}
        for key, ns in by_key.items():
            needs: dict[int, int] = {}
            for bit, n in enumerate(ns):
                for w in set(self.words[n]) - {key}:
                    needs[w] = needs.get(w, 0) | 1 << bit
            self.by_key[key] = _Keyed(tuple(ns), (1 << len(ns)) - 1, tuple(needs.items()), frozenset(needs))
        self.keys = frozenset(self.by_key)

    def find(
        self, at: Sequence[frozenset[int]], present: frozenset[int], clause: Sequence[int]
    ) -> list[tuple[int, int, _Label, tuple[int, ...]]]:
        """Every term in a message (`at`: the word ids at each position, `present`: all of them):
        (start, term, label, its words' positions), by start, then in the order of the terms."""
        out: list[tuple[int, int, _Label, tuple[int, ...]]] = []
        by_key, terms, words = self.by_key, self.terms, self.words
        starts_of: dict[int, list[int]] = {}
        spots: list[tuple[int, frozenset[int]]] | None = None  # the positions of a word, with its ids
        for key in self.keys & present:
            keyed = by_key[key]
            viable = keyed.every
            if not keyed.needed <= present:
                if viable == 1:  # one term, a word of which is nowhere in the message
                    continue
                missing = 0  # the terms a word of which is nowhere in the message
                for w, bits in keyed.needs:
                    if w not in present:
                        missing |= bits
                viable &= ~missing
            while viable:
                low = viable & -viable
                viable ^= low
                n = keyed.terms[low.bit_length() - 1]
                ids = words[n]
                label, term = terms[n]
                first = ids[0]
                starts = starts_of.get(first)
                if starts is None:
                    if spots is None:
                        spots = [(i, here) for i, here in enumerate(at) if here]
                    starts = starts_of[first] = [i for i, here in spots if first in here]
                if len(ids) == 1:  # the first word is the whole term
                    out += [(i, n, label, (i,)) for i in starts]
                    continue
                for i in starts:
                    found = _complete(ids, term.gaps, i, at, clause)
                    if found is not None:
                        out.append((i, n, label, found))
        out.sort()
        return out


def _key_word(term: _Term) -> _Word:
    """The word to gate a term on: the one whose commonest option is least common."""

    def strength(word: _Word) -> int:
        return min(
            2 if kind == "year" else 0 if value in COMMON else len(value) for kind, value in word.options
        )

    return max(term.words, key=strength)  # the first of equals


def _is_year(token: str) -> bool:
    return len(token) == 4 and token.isdigit() and token[:2] in ("19", "20")


def _word_at(word: _Word, token: str, stem: str) -> bool:
    """Whether a token is the word: the meaning `_Words.word_ids` implements with tables (tested)."""
    if stem in word.stems or token in word.exact:
        return True
    if word.prefixes and token.startswith(word.prefixes):
        return True
    return word.year and _is_year(token)


def _complete(
    words: Sequence[int], gaps: Sequence[int], i: int, at: Sequence[frozenset[int]], clause: Sequence[int]
) -> tuple[int, ...] | None:
    """Positions of a term's words (by id; `at`: the ids at each position), started at token i
    (its first word matched), or None: its other words in order, in the same clause, each at
    most its gap after the previous one."""
    pos, where = i, clause[i]
    positions = [i]
    for word, gap in zip(words[1:], gaps, strict=True):
        for j in range(pos + 1, min(pos + 2 + gap, len(at))):
            if clause[j] != where:
                return None
            if word in at[j]:
                pos = j
                positions.append(j)
                break
        else:
            return None
    return tuple(positions)


@dataclass(frozen=True, slots=True)
class _Compiled:
    language: Language
    words: _Words  # every word of the terms and terminators
    breaks: _Terms  # terminators of several words
    terms: _Terms
    break_id: int  # every one-word terminator, as one word
    modifiers: Mapping[str, Modifier]
    rules_by_concept: Mapping[str, tuple[int, ...]]  # the rules whose first slot names it
    rule_slots: tuple[tuple[frozenset[str], ...], ...]  # per rule, the concepts of each slot


@dataclass(slots=True)
class _Analysis:
    """One language's reading of a message: clauses, concept hits, cues and person words."""

    tokens: list[str]
    read: list[_Token]  # each token as this language reads it
    clause: list[int]
    concepts: list[_Hit]
    cues: list[tuple[Modifier, int, int]]
    people: list[tuple[str, int]]
    hard: frozenset[int] = frozenset()  # where a terminator ("but", "pero") starts a clause
    by_concept: dict[str, list[_Hit]] = field(default_factory=dict)  # the concept hits, by name

    @property
    def stems(self) -> list[str]:
        return [t.stem for t in self.read]


class ConceptSet:
    """Every language's concept file; `findings` runs them all on one message."""

    def __init__(self, languages: Mapping[str, Language]) -> None:
        self.languages = dict(languages)
        self.emoji: dict[str, str] = {}
        for lang in self.languages.values():
            self.emoji.update(lang.emoji)
        self._compiled = [self._compile(lang) for lang in self.languages.values()]

    @staticmethod
    def _compile(lang: Language) -> _Compiled:
        mods = {m.name: m for m in lang.modifiers}
        labelled: list[tuple[_Label, _Term]] = []
        for name, terms in lang.concepts.items():
            labelled += [(("concept", name), t) for t in terms]
        for name, terms in lang.exclusions.items():
            labelled += [(("exclude", name), t) for t in terms]
        for mod in mods.values():
            labelled += [(("modifier", mod.name), t) for t in mod.cues]
        labelled += [(("pseudo", ""), t) for t in lang.pseudo]
        labelled += [(("self", ""), t) for t in lang.self_words]
        labelled += [(("other", ""), t) for t in lang.other_words]
        single = _Word.of([o for t in lang.terminators if len(t.words) == 1 for o in t.words[0].options])
        several = [(("break", ""), t) for t in lang.terminators if len(t.words) > 1]
        every = [w for _, t in (*labelled, *several) for w in t.words]
        words = _Words(lang.language, [*every, single])
        by_concept: dict[str, list[int]] = {}
        for r, rule in enumerate(lang.rules):
            for name in dict.fromkeys(rule.needs[0]):
                by_concept.setdefault(name, []).append(r)
        return _Compiled(
            lang,
            words,
            _Terms(words, several),
            _Terms(words, labelled),
            words.ids[single],
            mods,
            {name: tuple(rs) for name, rs in by_concept.items()},
            tuple(tuple(frozenset(names) for names in rule.needs) for rule in lang.rules),
        )

    @classmethod
    def load(cls, config_dir: Path) -> ConceptSet:
        folder = config_dir / "triage" / "concepts"
        languages: dict[str, Language] = {}
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConceptError(f"{path}: not valid YAML: {exc}") from None
            languages[path.stem] = _Builder(path.stem, data or {}, str(path)).build()
        return cls(languages)

    @classmethod
    def from_mapping(cls, language: str, data: Mapping[str, Any]) -> ConceptSet:
        return cls({language: _Builder(language, data, "<concepts>").build()})

    def analyse(self, normalized: str) -> list[_Analysis]:
        tokens = [t for t in normalized.split(" ") if t]
        out: list[_Analysis] = []
        if not tokens:
            return out
        stops = [i for i, t in enumerate(tokens) if t == "."]
        for compiled in self._compiled:
            read = compiled.words.read(tokens)
            at = [t.ids for t in read]
            present = frozenset().union(*at)
            stop = compiled.break_id
            hard = {i for i, here in enumerate(at) if stop in here} if stop in present else set()
            if compiled.breaks.terms:
                hard.update(i for i, _, _, _ in compiled.breaks.find(at, present, [0] * len(tokens)))
            breaks = hard.union(stops)
            clause = [0] * len(tokens)
            if breaks:
                n = 0
                for i in range(len(tokens)):
                    n += i in breaks
                    clause[i] = n
            mods = compiled.modifiers
            analysis = _Analysis(tokens, read, clause, [], [], [], frozenset(hard))
            found = [
                (kind, name, i, spot[-1] + 1, spot)
                for i, _, (kind, name), spot in compiled.terms.find(at, present, clause)
            ]
            pseudo = [(a, b) for kind, _, a, b, _ in found if kind == "pseudo"]
            excluded = [(name, a, b) for kind, name, a, b, _ in found if kind == "exclude"]
            for kind, name, a, b, spot in found:
                if kind == "concept":
                    if excluded and any(n == name and x < b and a < y for n, x, y in excluded):
                        continue
                    hit = _Hit(name, a, b, tuple([tokens[i] for i in spot]), frozenset(spot))
                    analysis.concepts.append(hit)
                    analysis.by_concept.setdefault(name, []).append(hit)
                elif kind == "modifier":
                    if not any(x < b and a < y for x, y in pseudo):  # "not gonna lie" is no negation
                        analysis.cues.append((mods[name], a, b))
                elif kind in ("self", "other"):
                    analysis.people.append((kind, a))
            out.append(analysis)
        return out

    def findings(self, analyses: Sequence[_Analysis]) -> list[Finding]:
        """Every rule that fires, in every language's reading of the message."""
        out: list[Finding] = []
        for compiled, analysis in zip(self._compiled, analyses, strict=True):
            if analysis.concepts:
                rules, by_concept = compiled.language.rules, compiled.rules_by_concept
                # only the rules a concept found can start, and only if every slot has one found:
                # the others fire nothing
                found = analysis.by_concept
                woken = {r for name in found for r in by_concept.get(name, ())}
                for r in sorted(woken):
                    if all(not names.isdisjoint(found) for names in compiled.rule_slots[r]):
                        out += _fire(rules[r], analysis, analyses)
        return out

    @staticmethod
    def about(
        analyses: Sequence[_Analysis], start_char: int, end_char: int, severity: Severity, category: str
    ) -> tuple[tuple[str, ...], str, str]:
        """A span of the normalised message found by another matcher (the lexicon), by character
        offsets into the tokens joined with spaces: (modifier names, strongest effect, experiencer)."""
        mods: dict[str, str] = {}
        experiencer = "self"
        for analysis in analyses:
            tokens = analysis.tokens
            pos, a, b = 0, None, len(tokens)
            for i, t in enumerate(tokens):
                if a is None and pos + len(t) > start_char:
                    a = i
                if pos >= end_char:
                    b = i
                    break
                pos += len(t) + 1
            if a is None:
                continue
            hit = _Hit("", a, max(b, a + 1))
            mods.update(_modifiers_on(hit, analysis, severity, category, lexicon=True))
            if _experiencer([hit], analysis) == "other":
                experiencer = "other"
        return tuple(sorted(mods)), _strongest(mods.values()), experiencer

    @staticmethod
    def words(analyses: Sequence[_Analysis], finding: Finding) -> tuple[int, int]:
        """Character offsets of a finding in the normalised message (tokens joined by spaces)."""
        tokens = analyses[0].tokens
        start = sum(len(t) + 1 for t in tokens[: finding.start])
        end = start + len(" ".join(tokens[finding.start : finding.end]))
        return start, end


def _strongest(effects: Iterable[str]) -> str:
    found = set(effects)
    return DROP if DROP in found else POSSIBLE if POSSIBLE in found else KEEP


def _pick(slots: Sequence[Sequence[_Hit]], ok: Callable[[_Hit], bool]) -> list[_Hit] | None:
    """One hit per slot, in order, each acceptable to `ok`; a concept named in two slots needs
    two separate hits of it in different words (two farewells, not one read twice or repeated)."""
    picked: list[_Hit] = []
    for slot in slots:
        hit = next(
            (
                h
                for h in slot
                if ok(h)
                and not any(
                    p.concept == h.concept and (p.words == h.words or (p.start < h.end and h.start < p.end))
                    for p in picked
                )
            ),
            None,
        )
        if hit is None:
            return None
        picked.append(hit)
    return picked


def _fire(rule: Rule, analysis: _Analysis, readings: Sequence[_Analysis]) -> list[Finding]:
    """The rule's findings in one language's reading; modifiers come from every reading (a
    Spanish "le dije que no" denies an English concept too)."""
    by_concept = analysis.by_concept
    slots = [
        by_concept.get(names[0], [])
        if len(names) == 1
        else [h for h in analysis.concepts if h.concept in names]
        for names in rule.needs
    ]
    if any(not s for s in slots):
        return []
    clause = analysis.clause
    groups: list[list[_Hit]] = []
    if rule.within_message:
        group = _pick(slots, lambda h: True)
        if group is not None:
            groups.append(group)
    else:
        for where in sorted({clause[h.start] for h in slots[0]}):
            group = _pick(slots, lambda h, where=where: clause[h.start] == where)  # type: ignore[misc]
            if group is not None:
                groups.append(group)
    found = []
    for group in groups:
        mods: dict[str, str] = {}
        for h in group:
            for reading in readings:
                mods.update(_modifiers_on(h, reading, rule.severity, rule.category))
        found.append(
            Finding(
                category=rule.category,
                severity=rule.severity,
                start=min(h.start for h in group),
                end=max(h.end for h in group),
                concepts=tuple(dict.fromkeys(h.concept for h in group)),
                modifiers=tuple(sorted(mods)),
                effect=_strongest([*mods.values(), *([POSSIBLE] if rule.possible else [])]),
                experiencer=_experiencer(group, analysis),
            )
        )
    return found


def _modifiers_on(
    hit: _Hit, analysis: _Analysis, severity: Severity, category: str, *, lexicon: bool = False
) -> dict[str, str]:
    """The modifiers whose cues scope over the hit, with their effect at this severity."""
    clause = analysis.clause
    where = clause[hit.start]
    mods: dict[str, str] = {}
    for mod, a, b in analysis.cues:
        inside = a <= hit.start and hit.end <= b  # "narcan for the house" holds "narcan"
        if (lexicon and not mod.lexicon) or (mod.categories and category not in mod.categories):
            continue
        if clause[a] != where and not mod.whole_message:
            lo, hi = sorted((a, hit.start))
            if abs(clause[a] - where) > mod.clauses or any(lo < i <= hi for i in analysis.hard):
                continue
        if inside and (a, b) != (hit.start, hit.end):
            mods[mod.name] = mod.effect(severity)
            continue
        if a < hit.end and hit.start < b:
            # a cue on a concept's own words is part of it ("no reason to live"); one on a word
            # between them scopes over what follows it ("i'm not high": "i'm ... high")
            if not hit.at or any(a <= i < b for i in hit.at) or mod.direction == "backward":
                continue
            mods[mod.name] = mod.effect(severity)
            continue
        before, after = b <= hit.start, a >= hit.end
        if (before and hit.start - b > mod.window) or (after and a - hit.end > mod.window):
            continue
        if (mod.direction in ("forward", "both") and before) or (
            mod.direction in ("backward", "both") and after
        ):
            mods[mod.name] = mod.effect(severity)
    return mods


def _experiencer(group: Sequence[_Hit], analysis: _Analysis) -> str:
    """ "other" when, for every concept of the finding, the last person word up to its end, in its
    clause, is third person ("my son says he...", "my friend od'd", "kill himself"); "self" otherwise."""
    for hit in group:
        where = analysis.clause[hit.start]
        before = [(a, k) for k, a in analysis.people if analysis.clause[a] == where and a < hit.start]
        inside = [(a, k) for k, a in analysis.people if hit.start <= a < hit.end]
        nearest = max([*before, *inside]) if before or inside else None
        if nearest is None or nearest[1] != "other":
            return "self"
    return "other"
