"""Text folding for the triage: one normalised form of a message, with offsets back to it.

Case-fold, strip accents, turn emoji and symbols into spaces (laughing emoji into "lol", so
"dying 😂" can be told from "dying"), punctuation into a " . " token, letters repeated 3+ times
into one ("sooooo" -> "so"), and collapse spaces. Every stage is a regex substitution, so the
same code can record offsets to report a match as the person wrote it (`OffsetMap`). Shared by
the lexicon (`flows.triage.lexicon`), the concept rules (`flows.triage.concepts`) and the model
(`flows.triage.model`).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

_LAUGH = frozenset("😂🤣💀😆😹😅")
_APOSTROPHES = frozenset("’‘ʼ＇‛′´`")
ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ`", "abcdefghijklmnopqrstuvwxyz'")


@lru_cache(maxsize=8192)
def fold_char(ch: str) -> str:
    if ch in _LAUGH:
        return " lol "
    if ch in _APOSTROPHES:
        return "'"
    if unicodedata.category(ch).startswith("S"):
        return " "  # a symbol is never words: "№" must not become "No"
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", ch).casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(ASCII_FOLD)


def _fold_run(m: re.Match[str]) -> str:
    return "".join(fold_char(c) for c in m.group())


def _squash_spaces(m: re.Match[str]) -> str:
    return "" if m.start() == 0 or m.end() == len(m.string) else " "


Stage = tuple[re.Pattern[str], Callable[[re.Match[str]], str], bool]  # pattern, replacement, keeps length
_NON_ASCII: Stage = (re.compile(r"[^\x00-\x7f]+"), _fold_run, False)
_STAGES: tuple[Stage, ...] = (
    (re.compile(r"[^\w'\s.,;:!?]|_|(?<!\w)'|'(?!\w)"), lambda m: " ", True),
    (re.compile(r"\s*[.,;:!?]+\s*"), lambda m: " . ", False),
    (re.compile(r"([^\W\d_])\1{2,}"), lambda m: m.group(1), False),
    (re.compile(r"^\s+|\s+$|\s{2,}|[^\S ]"), _squash_spaces, False),
)


@dataclass(frozen=True, slots=True)
class _Edits:
    """Replacements made by one stage: (new_start, new_end, old_start, old_end), in order."""

    starts: list[int]
    rows: list[tuple[int, int, int, int]]

    def old_start(self, p: int) -> int:
        i = bisect_right(self.starts, p) - 1
        if i < 0:
            return p
        _, ne, os_, oe = self.rows[i]
        return os_ if p < ne else p - ne + oe

    def old_end(self, p: int) -> int:
        i = bisect_left(self.starts, p) - 1
        if i < 0:
            return p
        _, ne, _, oe = self.rows[i]
        return oe if p <= ne else p - ne + oe


def _sub_traced(stage: Stage, s: str, trace: list[_Edits]) -> str:
    rx, repl, keeps_length = stage
    if keeps_length:
        return rx.sub(repl, s)
    parts: list[str] = []
    starts: list[int] = []
    rows: list[tuple[int, int, int, int]] = []
    last = delta = 0
    for m in rx.finditer(s):
        a, b = m.span()
        rep = repl(m)
        parts += (s[last:a], rep)
        starts.append(a + delta)
        rows.append((a + delta, a + delta + len(rep), a, b))
        delta += len(rep) - (b - a)
        last = b
    parts.append(s[last:])
    trace.append(_Edits(starts, rows))
    return "".join(parts)


# The stages without tracing, as `re` templates (no Python call per replacement); the last
# stage, squashing whitespace, is `" ".join(s.split())`: both split on `str.isspace`.
_TEMPLATES = tuple(zip((rx for rx, _, _ in _STAGES[:3]), (" ", " . ", r"\1"), strict=True))


def normalize_with(text: str, trace: list[_Edits] | None = None, emoji: Stage | None = None) -> str:
    """`emoji`: a first stage that turns listed emoji into words (`Triage` builds it from the
    concept files), traced like the others so matches still quote the person's own text."""
    if trace is None:
        if text.isascii():  # ASCII_FOLD on ASCII: lower case, and ` as '
            s = text.lower().replace("`", "'")
        else:
            s = text.translate(ASCII_FOLD)
            if emoji is not None:
                s = emoji[0].sub(emoji[1], s)
            s = _NON_ASCII[0].sub(_NON_ASCII[1], s)
        for rx, template in _TEMPLATES:
            s = rx.sub(template, s)
        return " ".join(s.split())
    s = text.translate(ASCII_FOLD)
    if s.isascii():
        stages = _STAGES
    else:
        stages = (_NON_ASCII, *_STAGES) if emoji is None else (emoji, _NON_ASCII, *_STAGES)
    for stage in stages:
        s = _sub_traced(stage, s, trace)
    return s


def normalize(text: str) -> str:
    """The text as the lexicon sees it: folded, accents and emoji gone, `.` for punctuation."""
    return normalize_with(text)


class OffsetMap:
    """Maps spans of `normalize(text)` back to the person's own words (normalises once more)."""

    def __init__(self, text: str, emoji: Stage | None = None) -> None:
        self.text = text
        self.trace: list[_Edits] = []
        normalize_with(text, self.trace, emoji)

    def span(self, start: int, end: int) -> str:
        for edits in reversed(self.trace):
            start, end = edits.old_start(start), edits.old_end(end)
        return self.text[start:end].strip(" \t\r\n.,;:!?")


def emoji_stage(words: Mapping[str, str]) -> Stage | None:
    """The normalisation stage that reads the concept files' emoji as words ("🍺" -> "beer")."""
    if not words:
        return None
    rx = re.compile("|".join(re.escape(e) for e in sorted(words, key=len, reverse=True)))
    return (rx, lambda m: f" {words[m.group()]} ", False)
