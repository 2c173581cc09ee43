"""The lexicon's phrase syntax: parsing a phrase into nodes and each literal word into its regex."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product

from flows.textfold import fold_char
from flows.triage.result import LexiconError


@dataclass(frozen=True, slots=True)
class _Lit:
    word: str
    prefix: bool  # word*
    exact: bool  # =word


@dataclass(frozen=True, slots=True)
class _AnyWord:
    pass


@dataclass(frozen=True, slots=True)
class _Gap:
    pass


@dataclass(frozen=True, slots=True)
class _End:
    pass


@dataclass(frozen=True, slots=True)
class _Ref:
    name: str


@dataclass(frozen=True, slots=True)
class _Alt:
    options: tuple[tuple[_Node, ...], ...]
    optional: bool


_Node = _Lit | _AnyWord | _Gap | _End | _Ref | _Alt
_Seq = tuple[_Node, ...]

_TOKEN = re.compile(r"\(|\)|\[|\]|\||[^\s()\[\]|]+")
_WORD_OK = re.compile(r"[\w'-]+")
_SEP = r" (?:\. )?"  # words are one space apart; a punctuation token may sit between them
_GAP_RX = r"(?: [\w']+){0,3}"
_SHORTHAND = {
    "to": "to|2|too",
    "you": "you|u|ya",
    "your": "your|ur|you'?re",
    "are": "are|r",
    "for": "for|4",
    "myself": "my ?self|mself",
    "about": "about|bout|abt|'bout",
}


def _fold_literal(word: str) -> str:
    return "".join(fold_char(c) if not c.isascii() else c.lower() for c in word)


def _parse(phrase: str, *, follower: bool = False) -> _Seq:
    tokens = _TOKEN.findall(phrase)
    pos = 0

    def alternatives(closer: str | None) -> list[list[_Node]]:
        nonlocal pos
        options: list[list[_Node]] = [[]]
        while pos < len(tokens):
            tok = tokens[pos]
            pos += 1
            if tok == "|":
                options.append([])
            elif tok in (")", "]"):
                if tok != closer:
                    raise LexiconError(f"unexpected {tok!r}")
                return options
            elif tok in ("(", "["):
                inner = alternatives(")" if tok == "(" else "]")
                if any(not o for o in inner):
                    raise LexiconError("empty alternative inside brackets")
                options[-1].append(_Alt(tuple(tuple(o) for o in inner), optional=tok == "["))
            else:
                options[-1].append(_word(tok))
        if closer is not None:
            raise LexiconError(f"missing {closer!r}")
        return options

    top = alternatives(None)
    if any(not o for o in top):
        raise LexiconError("empty phrase or alternative")
    seq: _Seq = tuple(top[0]) if len(top) == 1 else (_Alt(tuple(tuple(o) for o in top), optional=False),)
    if isinstance(seq[0], _End) or isinstance(seq[-1], _Gap) or (isinstance(seq[0], _Gap) and not follower):
        raise LexiconError("a phrase cannot start with '...' or '$', nor end with '...'")
    return seq


def _word(tok: str) -> _Node:
    if tok == "*":
        return _AnyWord()
    if tok == "...":
        return _Gap()
    if tok == "$":
        return _End()
    if tok.startswith("@") and len(tok) > 1:
        return _Ref(tok[1:])
    exact = tok.startswith("=")
    prefix = tok.endswith("*")
    word = _fold_literal(tok[1 if exact else 0 : -1 if prefix else None])
    if not word or not _WORD_OK.fullmatch(word) or word.startswith(("'", "-")):
        hint = " (optional words go in brackets: [a|b])" if "?" in tok else ""
        raise LexiconError(f"cannot use {tok!r} as a word{hint}")
    return _Lit(word, prefix, exact)


_RUN = re.compile(r"(.)\1*")


def _literal_rx(lit: _Lit) -> str:
    if not (lit.exact or lit.prefix) and lit.word in _SHORTHAND:
        return f"(?:{_SHORTHAND[lit.word]})(?!\\w)"
    runs = [m.group() for m in _RUN.finditer(lit.word)]
    out: list[str] = []
    for run in runs:
        ch, n = run[0], len(run)
        if ch == "'":
            out.append("'" if lit.exact else "'?")
        elif ch == "-":
            out.append(" ?")
        elif ch.isalpha() and n > 1 and not lit.exact:
            out.append(f"{re.escape(ch)}{{1,{n}}}")  # "kiiiill" is squashed to "kil"
        else:
            out.append(re.escape(run))
    last = runs[-1]
    if not (lit.exact or lit.prefix) and len(lit.word) >= 3 and len(last) == 1 and last.isalpha():
        out[-1] = f"{re.escape(last)}{{1,2}}"  # "diee", "mee"
    body = "".join(out)
    if not (lit.exact or lit.prefix) and len(lit.word) > 4 and lit.word.endswith("ing"):
        body = body[: -len(out[-1])] + "(?:g{1,2}|')?"  # "killin", "killin'": the dropped g
    return body + (r"[\w']*" if lit.prefix else r"(?!\w)")


def _min_words(seq: _Seq, groups: Mapping[str, Sequence[_Seq]]) -> int:
    total = 0
    for node in seq:
        if isinstance(node, _Lit | _AnyWord):
            total += 1
        elif isinstance(node, _Alt) and not node.optional:
            total += min(_min_words(o, groups) for o in node.options)
        elif isinstance(node, _Ref):
            total += min(_min_words(o, groups) for o in groups[node.name])
    return total


def _expand(seq: _Seq, groups: Mapping[str, Sequence[_Seq]], cap: int) -> list[str]:
    """Literal spellings of a phrase (wildcards dropped): the naive baseline of the benchmark."""
    choices: list[list[str]] = []
    for node in seq:
        if isinstance(node, _Lit):
            choices.append([node.word.replace("'", "").replace("-", " ")])
        elif isinstance(node, _Alt | _Ref):
            options = node.options if isinstance(node, _Alt) else tuple(groups[node.name])
            sub = [x for o in options for x in _expand(o, groups, cap)][:cap]
            choices.append([*sub, ""] if isinstance(node, _Alt) and node.optional else sub)
    out = [" ".join(w for w in combo if w) for combo in product(*choices)]
    return out[:cap]
