"""Finding the concept terms in a message: its tokens read once, each term woken by its rarest word."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from flows.common_words import COMMON
from flows.triage.concept_rules import STEMS, _Term, _Word

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
