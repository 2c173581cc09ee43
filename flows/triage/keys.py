"""Gate keys: the words a message must contain before a phrase is tried on it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache

from flows.common_words import COMMON as _COMMON
from flows.triage.phrases import (
    _RUN,
    _SHORTHAND,
    _Alt,
    _Lit,
    _Node,
    _Ref,
    _Seq,
)

# A phrase is only tried on a message containing a word that starts with one of its keys.
# Words too common to be a useful key: a phrase keyed on them would be tried on most messages.
_GOOD_KEY = 3  # a key set scores its shortest key's length (0 for a common word); this is enough
_KEY_END = re.compile(r"['\- ?]")


@cache
def _literal_keys(lit: _Lit) -> frozenset[str]:
    """Prefixes one of which starts the word in any text the literal matches."""
    words = _SHORTHAND[lit.word].split("|") if lit.word in _SHORTHAND and not lit.prefix else [lit.word]
    keys: set[str] = set()
    for w in words:
        head = _KEY_END.split(w, maxsplit=1)[0]
        if not (lit.exact or lit.prefix) and len(lit.word) > 4 and head.endswith("ing"):
            head = head[:-1]  # "killin" for "killing"
        spellings = [""]
        for run in (m.group() for m in _RUN.finditer(head)):
            # a doubled letter may be typed once ("kil" for "kill", or "kiiiill" squashed)
            ways = (run,) if len(run) == 1 or lit.exact else (run[0], run)
            spellings = [s + w for s in spellings for w in ways][:16]
        keys.update(spellings)
    return frozenset(keys)


def _key_score(keys: frozenset[str] | None) -> float:
    if not keys:
        return -1.0
    return min(0 if k in _COMMON else len(k) for k in keys) - 0.001 * len(keys)


class _KeyPlanner:
    """Chooses a phrase's gate keys. Keys of its first word are preferred ("anchored"): the
    matcher then tries the regex only where such a word starts, instead of scanning the text."""

    def __init__(self, groups: Mapping[str, Sequence[_Seq]]) -> None:
        self.groups = groups
        self._any: dict[_Seq, frozenset[str] | None] = {}
        self._first: dict[_Seq, frozenset[str] | None] = {}

    def options(self, node: _Node | None) -> Sequence[_Seq] | None:
        if isinstance(node, _Alt):
            return node.options
        if isinstance(node, _Ref):
            return self.groups[node.name]
        return None

    @staticmethod
    def union(seqs: Iterable[_Seq], pick: Callable[[_Seq], frozenset[str] | None]) -> frozenset[str] | None:
        out: set[str] = set()
        for seq in seqs:
            keys = pick(seq)
            if keys is None:
                return None
            out |= keys
        return frozenset(out)

    def any_keys(self, seq: _Seq) -> frozenset[str] | None:
        """The best keys of any required word of the phrase."""
        if seq not in self._any:
            best: frozenset[str] | None = None
            for node in seq:
                keys: frozenset[str] | None = None
                options = self.options(node)
                if isinstance(node, _Lit):
                    keys = _literal_keys(node)
                elif options is not None and not (isinstance(node, _Alt) and node.optional):
                    keys = self.union(options, self.any_keys)
                if keys and _key_score(keys) > _key_score(best):
                    best = keys
            self._any[seq] = best
        return self._any[seq]

    def first_keys(self, seq: _Seq) -> frozenset[str] | None:
        """Keys of the word the phrase starts with, whichever alternative it takes."""
        if seq not in self._first:
            keys: frozenset[str] | None = None
            head, rest = (seq[0], seq[1:]) if seq else (None, ())
            options = self.options(head)
            if isinstance(head, _Lit):
                keys = _literal_keys(head)
            elif options is not None:
                keys = self.union((o + rest for o in options), self.first_keys)
                if isinstance(head, _Alt) and head.optional and keys is not None:
                    tail = self.first_keys(rest) if rest else None
                    keys = None if tail is None else keys | tail
            self._first[seq] = keys
        return self._first[seq]

    def node_keys(self, node: _Node) -> frozenset[str] | None:
        options = self.options(node)
        if isinstance(node, _Lit):
            return _literal_keys(node)
        if options is not None and not (isinstance(node, _Alt) and node.optional):
            return self.union(options, self.any_keys)
        return None

    def gate(self, seq: _Seq) -> tuple[tuple[frozenset[str], ...], bool]:
        """(slots, anchored): the phrase is tried only on a text where every slot has a word
        starting with one of its keys (no slots: every text). Anchored: the first slot holds the
        keys of the phrase's first word, and the phrase is only tried where those words start."""
        first = self.first_keys(seq)
        sets = [k for k in map(self.node_keys, seq) if k]
        strong = sorted({k for k in sets if _key_score(k) >= _GOOD_KEY}, key=_key_score, reverse=True)
        if first and _key_score(first) >= _GOOD_KEY:
            return (first, *[k for k in strong if k != first][:1]), True
        if strong:
            return tuple(strong[:2]), False
        best = max(sets, key=_key_score, default=None)
        if first and _key_score(first) >= _key_score(best):
            return (first,), True
        return ((best,) if best else ()), False
