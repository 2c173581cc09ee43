"""Free-text triage: red-flag lexicons per language, with negation, denials and idioms.

Pure logic: the only I/O is reading the lexicon files in `Triage.load`. Everything is compiled
once at load; `assess` normalises the text, wakes only the phrases whose key words occur in it
(most messages wake few or none) and looks closer only at those.

Safety rules built into the engine, not left to the lexicon files:
- critical categories can never be negated; only a whole-phrase denial ("I'm not suicidal")
  cancels a critical match, and not when something like "but I want to" follows it;
- an idiom cancels a critical match only if the idiom contains the whole match;
- a language given to `assess` still checks every other language's critical phrases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import yaml

from flows.severity import Severity, max_severity
from flows.textfold import OffsetMap, emoji_stage, normalize_with
from flows.triage.concept_rules import DROP, POSSIBLE, ConceptError
from flows.triage.concepts import ConceptSet
from flows.triage.lexicon import Lexicon
from flows.triage.matcher import _Matcher
from flows.triage.model import ModelError, ModelScore, TriageModel
from flows.triage.result import NO_FLAGS, LexiconError, Match, TriageResult


def _graded(severity: Severity, effect: str) -> tuple[Severity, bool]:
    """A finding's severity under its modifiers' effect: a critical one made "possible" (negated,
    hedged) is paged at high as a possible crisis; (severity, possible)."""
    possible = effect == POSSIBLE and severity is Severity.CRITICAL
    return (Severity.HIGH if possible else severity), possible


class Scorer(Protocol):
    """The statistical recall net (`flows.triage.model.TriageModel`)."""

    def score_normalized(self, norm: str) -> ModelScore: ...

    def severity(self, score: ModelScore) -> Severity: ...


class Triage:
    """Free-text triage over every configured language: the lexicon's phrases, the concept rules
    and their modifiers (`flows.triage.concepts`), and the statistical model, which may only raise."""

    def __init__(
        self,
        lexicons: Mapping[str, Lexicon],
        concepts: ConceptSet | None = None,
        model: Scorer | None = None,
    ) -> None:
        if not lexicons:
            raise LexiconError("no triage lexicons configured")
        self.lexicons = dict(lexicons)
        self.concepts = concepts if concepts is not None else ConceptSet({})
        self.model = model
        self._emoji = emoji_stage(self.concepts.emoji)
        self._all = _Matcher([(lex, True) for lex in self.lexicons.values()])
        # a given language is checked in full, every other one for its critical phrases
        self._by_lang = {
            lang: _Matcher([(other, other is lex) for other in self.lexicons.values()])
            for lang, lex in self.lexicons.items()
        }

    @classmethod
    def load(cls, config_dir: Path, *, use_model: bool = True) -> Triage:
        """Read `config_dir/triage/<lang>.yaml` for every language (not `trends.yaml`), the concepts
        (`concepts/<lang>.yaml`) and the model (`model.json`; `use_model=False`: rules only)."""
        triage_dir = config_dir / "triage"
        lexicons: dict[str, Lexicon] = {}
        for path in sorted(triage_dir.glob("*.yaml")):
            if path.stem == "trends":
                continue
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise LexiconError(f"{path}: not valid YAML: {exc}") from None
            lexicons[path.stem] = Lexicon.from_mapping(path.stem, data or {}, str(path))
        if not lexicons:
            raise LexiconError(f"{triage_dir}: no lexicon files (expected en.yaml, es.yaml, ...)")
        try:
            concepts = ConceptSet.load(config_dir)
        except ConceptError as exc:
            raise LexiconError(str(exc)) from None
        model_path = triage_dir / "model.json"
        try:
            model = TriageModel.load(model_path) if model_path.exists() and use_model else None
        except ModelError as exc:
            raise LexiconError(str(exc)) from None
        return cls(lexicons, concepts, model)

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(self.lexicons)

    def assess(self, text: str, lang: str | None = None) -> TriageResult:
        """Red flags in one free-text message. `lang` None checks every language in full; a
        given language is checked in full and the others for their critical phrases."""
        plain = normalize_with(text)  # what the model was trained on
        emoji = self._emoji if self._emoji is not None and self._emoji[0].search(text) else None
        norm = plain if emoji is None else normalize_with(text, None, emoji)
        if not norm:
            return NO_FLAGS
        s = " " + norm
        matcher = self._all if lang is None else self._by_lang.get(lang.split("-")[0].lower(), self._all)
        analyses = self.concepts.analyse(norm)
        findings = self.concepts.findings(analyses)
        score, said = None, Severity.NONE
        if self.model is not None:
            score = self.model.score_normalized(plain)
            said = self.model.severity(score)
        # the idioms and denials are read when something could be cancelled by them: a match,
        # a finding, or a reading of the model's (neither head raises over a denial)
        hits, shields = matcher.hits(s, shields=bool(findings) or said is not Severity.NONE)
        to_original: OffsetMap | None = None
        matches = []
        dropped_critical = False  # critical words the rules read as history, a joke, media...
        for h in hits:
            start = h.start
            while s[start] in " .":
                start += 1
            severity = h.category.severity
            mods, effect, experiencer = ConceptSet.about(
                analyses, start - 1, h.end - 1, severity, h.category.name
            )
            if effect == DROP:
                dropped_critical = dropped_critical or severity is Severity.CRITICAL
                continue
            to_original = to_original or OffsetMap(text, emoji)
            phrase = to_original.span(start - 1, h.end - 1) or s[start : h.end]
            graded, possible = _graded(severity, effect)
            matches.append(
                Match(
                    h.category.name,
                    graded,
                    phrase,
                    modifiers=mods,
                    experiencer=experiencer,
                    possible=possible,
                )
            )
        for f in findings:
            if f.effect == DROP:
                dropped_critical = dropped_critical or f.severity is Severity.CRITICAL
                continue
            if any(m.category == f.category and m.source == "lexicon" for m in matches):
                continue  # the lexicon has said it, in the person's own words
            a, b = ConceptSet.words(analyses, f)
            if shields.cancels(a + 1, b + 1, f.severity) or (
                f.severity is not Severity.CRITICAL and shields.negates(a + 1, b + 1, f.category)
            ):
                continue  # an idiom or a denial the lexicon knows ("this homework is killing me")
            to_original = to_original or OffsetMap(text, emoji)
            graded, possible = _graded(f.severity, f.effect)
            matches.append(
                Match(
                    f.category,
                    graded,
                    to_original.span(a, b) or norm[a:b],
                    source="concepts",
                    concepts=f.concepts,
                    modifiers=f.modifiers,
                    experiencer=f.experiencer,
                    possible=possible,
                )
            )
        if score is None:
            return TriageResult.from_matches(matches)
        worst = max_severity(*(m.severity for m in matches))
        # The model only raises: to a possible crisis where nothing else is critical, or, by its
        # alert head, to a high page where the rules saw nothing that high ("possible_risk").
        # A whole denial the lexicon read ("I would never hurt myself") is not overruled by it,
        # nor critical words the rules put in their place ("im going to kill him lmao").
        # Nor is a text of one or two words, where a linear model's score means little.
        long_enough = norm.count(" ") >= 2
        if said is Severity.CRITICAL and any(m.possible for m in matches):
            # the rules read crisis words under a hedge ("maybe", "if", "lol") and the model reads
            # a crisis too: two readings agree, so it is a crisis, not a possible one
            matches = [
                replace(
                    m, severity=Severity.CRITICAL, possible=False, modifiers=(*m.modifiers, "model_agrees")
                )
                if m.possible
                else m
                for m in matches
            ]
            worst = Severity.CRITICAL
        if (
            said is Severity.CRITICAL
            and worst is not Severity.CRITICAL
            and not shields.denied
            and not dropped_critical
            and long_enough
        ):
            matches.append(Match("possible_crisis", Severity.HIGH, "", source="model", possible=True))
        elif (
            said is Severity.HIGH
            and worst.rank() < Severity.HIGH.rank()
            and not shields.denied
            and not dropped_critical
            and long_enough
        ):
            # Use, intent or danger in words the rules do not know: the peer reads it today. The
            # alert head's threshold is set for this (see `flows.triage.training.FALSE_ALARMS`).
            matches.append(Match("possible_risk", Severity.HIGH, "", source="model"))
        return TriageResult.from_matches(matches, score)
