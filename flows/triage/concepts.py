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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flows.severity import Severity
from flows.triage.concept_builder import _Builder
from flows.triage.concept_rules import (
    DROP,
    KEEP,
    POSSIBLE,
    ConceptError,
    Finding,
    Language,
    Modifier,
    Rule,
    _Hit,
    _Term,
    _Word,
)
from flows.triage.concept_words import _Label, _Terms, _Token, _Words


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
