"""Matching every phrase of a set of lexicons in a message: woken by key words, then shielded by
idioms and denials and negated where the lexicon says so."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from flows.severity import Severity
from flows.triage.lexicon import Category, Lexicon, _Phrase

_FLAG, _SAFE, _DENIAL = 0, 1, 2
_CRITICAL = Severity.CRITICAL


@dataclass(frozen=True, slots=True)
class _Item:
    kind: int  # _FLAG, _SAFE or _DENIAL
    phrase: _Phrase
    lexicon: Lexicon
    category: Category | None = None


@dataclass(frozen=True, slots=True)
class _Hit:
    start: int
    end: int
    item: _Item
    category: Category


class _Matcher:
    """Every phrase of a set of lexicons, woken by the words of a message (see `_KeyPlanner`)."""

    def __init__(self, active: Sequence[tuple[Lexicon, bool]]) -> None:
        self.lexicons = tuple(lexicon for lexicon, _ in active)
        items: list[_Item] = []
        for lexicon, full in active:
            for category in lexicon.categories:
                if full or category.severity is _CRITICAL:
                    items += [_Item(_FLAG, p, lexicon, category) for p in category.phrases]
            items += [_Item(_SAFE, p, lexicon) for p in lexicon.safe]
            items += [_Item(_DENIAL, p, lexicon) for p in lexicon.denials]
        self.items = items
        self.anchored = [it.phrase.anchored for it in items]
        breakers = [p.rx.pattern for lexicon, _ in active for p in lexicon.denial_breakers]
        self.breaker = re.compile("|".join(f"(?:{b})" for b in breakers) if breakers else "(?!)")
        by_key: dict[str, set[tuple[int, int]]] = {}
        self.always: list[int] = []
        self.full = [(1 << len(it.phrase.slots)) - 1 for it in items]  # every slot seen
        for i, item in enumerate(items):
            if not item.phrase.slots:
                self.always.append(i)
            for slot, keys in enumerate(item.phrase.slots):
                for key in keys:
                    by_key.setdefault(key, set()).add((i, slot))
        self.by_key = {k: tuple(sorted(v)) for k, v in by_key.items()}
        self.longest_key = max((len(k) for k in by_key), default=0)
        # token -> (item, slot) pairs it wakes; words repeat across messages, so this is mostly
        # dict hits. Entries are only ever added whole and it is reset when large: safe to share.
        self._woken: dict[str, tuple[tuple[int, int], ...]] = {}

    def _wake(self, token: str) -> tuple[tuple[int, int], ...]:
        found: set[tuple[int, int]] = set()
        for n in range(1, min(len(token), self.longest_key) + 1):
            found.update(self.by_key.get(token[:n], ()))
        return tuple(sorted(found))

    def candidates(self, s: str) -> dict[int, list[int] | None]:
        """Items woken by the words of `s` (normalised, leading space): item -> positions to try
        it at (the space before each word of its first slot), or None to scan the whole text."""
        woken, anchored = self._woken, self.anchored
        seen: dict[int, int] = {}
        at: dict[int, list[int]] = {}
        pos = -1
        for token in s.split(" "):
            hit = woken.get(token)
            if hit is None:
                if len(woken) > 50_000:
                    woken.clear()
                hit = woken[token] = self._wake(token)
            for i, slot in hit:
                seen[i] = seen.get(i, 0) | (1 << slot)
                if slot == 0 and anchored[i]:
                    at.setdefault(i, []).append(pos)
            pos += len(token) + 1
        full = self.full
        found: dict[int, list[int] | None] = dict.fromkeys(self.always)
        for i, mask in seen.items():
            if mask == full[i]:
                found[i] = at[i] if anchored[i] else None
        return found

    def hits(self, s: str, *, shields: bool = False) -> tuple[list[_Hit], _Shields]:
        """The flags that stand in `s`, and the idiom and denial spans that cancel flags (computed
        even without flags when `shields`: the concept rules are cancelled by them too)."""
        found = self.candidates(s)
        items = self.items
        flags: list[_Hit] = []
        others: list[tuple[_Item, list[int] | None]] = []
        for i, at in found.items():
            item = items[i]
            if item.kind != _FLAG:
                others.append((item, at))
                continue
            category = item.category
            assert category is not None
            rx = item.phrase.rx
            if at is None:
                flags += [_Hit(m.start(), m.end(), item, category) for m in rx.finditer(s)]
            else:
                flags += [_Hit(m.start(), m.end(), item, category) for p in at if (m := rx.match(s, p))]
        if not flags and not shields:
            return [], _Shields(self, s, [], [])
        safe: list[tuple[int, int]] = []
        denied: list[tuple[int, int]] = []
        for item, at in others:
            rx = item.phrase.rx
            if at is None:
                spans = [m.span() for m in rx.finditer(s)]
            else:
                spans = [m.span() for p in at if (m := rx.match(s, p))]
            if item.kind == _SAFE:
                safe += spans
            else:
                denied += [(a, b) for a, b in spans if not self.breaker.match(s, b)]
        shield = _Shields(self, s, safe, denied)
        kept = [
            h for h in flags if not shield.cancels(h.start, h.end, h.category.severity) and not _negated(h, s)
        ]
        return _dedupe(kept), shield


@dataclass(frozen=True, slots=True)
class _Shields:
    """A message's idioms and denials, to cancel a span found by the lexicon or the concepts."""

    matcher: _Matcher
    s: str
    safe: Sequence[tuple[int, int]]
    denied: Sequence[tuple[int, int]]

    def cancels(self, start: int, end: int, severity: Severity) -> bool:
        if severity is _CRITICAL:
            return any(a <= start and end <= b for a, b in (*self.safe, *self.denied))
        return any(a < end and start < b for a, b in self.safe)

    def negates(self, start: int, end: int, category: str) -> bool:
        """A high finding of the concepts under any lexicon's negation ("didn't"), or followed by
        its category's own cues there ("wanted to drink but didn't")."""
        for lex in self.matcher.lexicons:
            if _negated_at(lex, self.s, start, end):
                return True
            own = next((c for c in lex.categories if c.name == category), None)
            if (
                own is not None
                and own.unless_followed_by is not None
                and own.unless_followed_by.match(self.s, end)
            ):
                return True
        return False


def _negated(hit: _Hit, s: str) -> bool:
    category, lexicon = hit.category, hit.item.lexicon
    if not category.negatable:
        return False
    if category.unless_followed_by is not None and category.unless_followed_by.match(s, hit.end):
        return True
    return _negated_at(lexicon, s, hit.start, hit.end)


def _negated_at(lexicon: Lexicon, s: str, start: int, end: int) -> bool:
    if lexicon.negation_after.match(s, end):
        return True
    before = s[:start]
    clause_start = 0
    for m in lexicon.clause_break.finditer(before):
        clause_start = m.end()
    clause = lexicon.pseudo_negation.sub(" ", before[clause_start:])
    words = clause.split()[-lexicon.negation_window :] if lexicon.negation_window else []
    return bool(words) and lexicon.negation_before.search(" " + " ".join(words)) is not None


def _dedupe(hits: list[_Hit]) -> list[_Hit]:
    """One hit per span and category; a hit inside a longer one of the same category goes."""
    hits.sort(key=lambda h: (h.start, -h.end))
    kept: list[_Hit] = []
    for h in hits:
        if not any(k.category is h.category and k.start <= h.start and h.end <= k.end for k in kept):
            kept.append(h)
    return kept
