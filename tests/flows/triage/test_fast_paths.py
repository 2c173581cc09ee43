"""The triage's fast paths give what the straightforward code gives: the untraced normalisation,
the concept word table and term index, and the rules woken by their concepts (a sample of the
corpus, and awkward strings)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from flows.textfold import normalize_with
from flows.triage import Triage
from flows.triage.concept_rules import STEMS, Finding, _Term
from flows.triage.concept_words import _word_at
from flows.triage.concepts import ConceptSet, _Analysis, _fire

CONFIG_DIR = Path(__file__).parents[3] / "config"
AWKWARD = [
    "",
    "   ",
    "  A\tB\x1c C \n",
    "\u2028x\u00a0y  z\u3000",
    "É´s ``hi`` ‘quoted’ __init__ 'x' y' 'z",
    "soooo!!! ...  noooo,,, ok?!",
    "漢字 😂 🍺 ok 💀💀 DYING",
    "I WANT TO DIE!!! im going to kill myself tonight... but not really lol",
    "no quiero vivir más, me voy a matar pero no sé",
    "19999 2024 1987 20 19",
]


@pytest.fixture(scope="module")
def triage() -> Triage:
    return Triage.load(CONFIG_DIR)


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rows = []
    for path in sorted((CONFIG_DIR / "triage" / "corpus").glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        rows += [json.loads(line)["text"] for line in lines[::9] if line.strip()]
    return rows + AWKWARD


def test_normalize_untraced_is_the_traced_stages(triage: Triage, texts: list[str]) -> None:
    for text in texts:
        for emoji in (None, triage._emoji):
            assert normalize_with(text, None, emoji) == normalize_with(text, [], emoji), text


def _reference_complete(
    term: _Term, i: int, tokens: Sequence[str], stems: Sequence[str], clause: Sequence[int]
) -> tuple[int, ...] | None:
    pos, where = i, clause[i]
    positions = [i]
    for word, gap in zip(term.words[1:], term.gaps, strict=True):
        for j in range(pos + 1, min(pos + 2 + gap, len(tokens))):
            if clause[j] != where:
                return None
            if _word_at(word, tokens[j], stems[j]):
                pos = j
                positions.append(j)
                break
        else:
            return None
    return tuple(positions)


def _reference_find(
    terms: Sequence[tuple[object, _Term]], tokens: Sequence[str], stems: Sequence[str], clause: Sequence[int]
) -> list[tuple[int, int, object, tuple[int, ...]]]:
    """Every term tried at every token, word by word with `_word_at`."""
    out = []
    for n, (label, term) in enumerate(terms):
        for i in range(len(tokens)):
            if _word_at(term.words[0], tokens[i], stems[i]):
                found = _reference_complete(term, i, tokens, stems, clause)
                if found is not None:
                    out.append((i, n, label, found))
    return sorted(out, key=lambda x: (x[0], x[1]))


def test_concept_index_finds_what_trying_every_term_finds(triage: Triage, texts: list[str]) -> None:
    cs = triage.concepts
    for text in texts[::6] + AWKWARD:  # the reference is slow: ~120 texts
        tokens = [t for t in normalize_with(text).split(" ") if t]
        if not tokens:
            continue
        for compiled, analysis in zip(cs._compiled, cs.analyse(" ".join(tokens)), strict=True):
            lang = compiled.language.language
            stems = [STEMS.stem(lang, t) for t in tokens]
            assert analysis.stems == stems
            read = compiled.words.read(tokens)
            for token, stem, got in zip(tokens, stems, read, strict=True):
                expect = {w for word, w in compiled.words.ids.items() if _word_at(word, token, stem)}
                assert got.ids == expect, (lang, token)
            at = [t.ids for t in read]
            present = frozenset().union(*at)
            clause = analysis.clause
            found = compiled.terms.find(at, present, clause)
            assert found == _reference_find(compiled.terms.terms, tokens, stems, clause), (lang, text)
            flat = [0] * len(tokens)
            breaks = compiled.breaks.find(at, present, flat)
            assert breaks == _reference_find(compiled.breaks.terms, tokens, stems, flat), (lang, text)


def test_rules_woken_by_their_concepts_are_every_rule_that_fires(triage: Triage, texts: list[str]) -> None:
    cs: ConceptSet = triage.concepts

    def every_rule(analyses: Sequence[_Analysis]) -> list[Finding]:
        out: list[Finding] = []
        for compiled, analysis in zip(cs._compiled, analyses, strict=True):
            for rule in compiled.language.rules:
                out += _fire(rule, analysis, analyses)
        return out

    fired = 0
    for text in texts:
        analyses = cs.analyse(normalize_with(text))
        if analyses:
            got = cs.findings(analyses)
            assert got == every_rule(analyses), text
            fired += bool(got)
    assert fired > 20  # the sample exercises the rules
