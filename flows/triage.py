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

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import product
from pathlib import Path
from typing import Any, Protocol

import yaml

from flows.common_words import COMMON as _COMMON
from flows.concepts import DROP, POSSIBLE, ConceptError, ConceptSet
from flows.severity import Severity, max_severity
from flows.textfold import OffsetMap, emoji_stage, fold_char, normalize, normalize_with
from flows.triage_model import ModelError, ModelScore, TriageModel

__all__ = [  # normalize and ModelScore are re-exported: the lexicon's view of a text, the model's score
    "NO_FLAGS",
    "Category",
    "Lexicon",
    "LexiconError",
    "Match",
    "ModelScore",
    "Scorer",
    "Triage",
    "TriageResult",
    "normalize",
]


@dataclass(frozen=True, slots=True)
class Match:
    category: str
    severity: Severity
    phrase: str  # the text span that matched, as written by the person ("" for the model)
    source: str = "lexicon"  # "lexicon", "concepts" or "model"
    concepts: tuple[str, ...] = ()
    modifiers: tuple[str, ...] = ()
    experiencer: str = "self"  # who is in danger: "self" (the writer) or "other"
    possible: bool = False  # a possible crisis: critical words under a hedge, or the model alone

    def to_json(self) -> dict[str, Any]:
        return {
            "phrase": self.phrase,
            "category": self.category,
            "severity": self.severity.value,
            "source": self.source,
            "concepts": list(self.concepts),
            "modifiers": list(self.modifiers),
            "experiencer": self.experiencer,
            "possible_crisis": self.possible,
        }


@dataclass(frozen=True, slots=True)
class TriageResult:
    severity: Severity
    categories: tuple[str, ...]
    matches: tuple[Match, ...]
    model: ModelScore | None = None

    @classmethod
    def from_matches(cls, matches: Iterable[Match], model: ModelScore | None = None) -> TriageResult:
        """Severity is the worst match; categories are ordered worst first, then as found."""
        unique = tuple(dict.fromkeys(matches))
        if not unique:
            return NO_FLAGS if model is None else cls(Severity.NONE, (), (), model)
        worst: dict[str, int] = {}
        for m in unique:
            worst[m.category] = max(worst.get(m.category, 0), m.severity.rank())
        categories = sorted(worst, key=lambda c: -worst[c])  # stable: first found first
        severity = max_severity(*(m.severity for m in unique))
        return cls(severity, tuple(categories), unique, model)

    @property
    def possible_crisis(self) -> bool:
        """Paged at high because a crisis is possible, not certain: the person gets a gentle reply."""
        return self.severity is Severity.HIGH and any(m.possible for m in self.matches)

    @property
    def experiencer(self) -> str:
        """ "other" when every finding at the worst severity is about someone else."""
        worst = [m for m in self.matches if m.severity is self.severity]
        return "other" if worst and all(m.experiencer == "other" for m in worst) else "self"

    def merge(self, *others: TriageResult) -> TriageResult:
        """One result from several sources (free text, trends, structured answers)."""
        model = next((r.model for r in (self, *others) if r.model is not None), None)
        return TriageResult.from_matches((m for r in (self, *others) for m in r.matches), model)

    def to_json(self, *, detailed: bool = False) -> dict[str, Any]:
        """`matches` lists the matched phrases, or {"phrase", "category", ...} objects if `detailed`;
        `findings` always explains each one (source, concepts, modifiers, experiencer)."""
        matches: list[Any]
        if detailed:
            matches = [m.to_json() for m in self.matches]
        else:
            matches = list(dict.fromkeys(m.phrase for m in self.matches if m.phrase))
        out: dict[str, Any] = {
            "severity": self.severity.value,
            "categories": list(self.categories),
            "matches": matches,
            "possible_crisis": self.possible_crisis,
            "experiencer": self.experiencer if self.matches else None,
            "findings": [m.to_json() for m in self.matches],
        }
        if self.model is not None:
            out["model"] = {
                "critical": round(self.model.critical, 4),
                "alert": round(self.model.alert, 4),
                "version": self.model.version,
            }
        return out


NO_FLAGS = TriageResult(Severity.NONE, (), ())


class LexiconError(ValueError):
    """A lexicon or thresholds file that cannot be used; the message names the file and entry."""


# --- phrase syntax ---------------------------------------------------------------------------


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


# --- gate keys -------------------------------------------------------------------------------
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


# --- lexicon ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Phrase:
    source: str  # as written in the lexicon file
    seq: _Seq
    rx: re.Pattern[str]
    slots: tuple[frozenset[str], ...]  # gate keys: see `_KeyPlanner.gate`
    anchored: bool


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    severity: Severity
    negatable: bool
    phrases: tuple[_Phrase, ...]
    unless_followed_by: re.Pattern[str] | None  # this category's own "but I didn't" cues


@dataclass(frozen=True, slots=True)
class Lexicon:
    """One language's red-flag phrases, negation cues, denials and idioms, compiled."""

    language: str
    categories: tuple[Category, ...]
    negation_window: int
    negation_before: re.Pattern[str]
    negation_after: re.Pattern[str]
    pseudo_negation: re.Pattern[str]
    clause_break: re.Pattern[str]
    denials: tuple[_Phrase, ...]
    denial_breakers: tuple[_Phrase, ...]
    safe: tuple[_Phrase, ...]
    groups: Mapping[str, Sequence[_Seq]] = field(repr=False)

    @classmethod
    def from_mapping(cls, language: str, data: Mapping[str, Any], source: str = "<lexicon>") -> Lexicon:
        """Validate and compile one lexicon file's content; errors name the file and entry."""
        return _LexiconBuilder(language, data, source).build()

    def literal_phrases(self, cap: int = 12) -> dict[str, list[str]]:
        """Plain spellings of each category's phrases, wildcards dropped and at most `cap` per
        phrase: what a naive substring scan would look for (the benchmark's baseline)."""
        out: dict[str, list[str]] = {}
        for category in self.categories:
            spelled = {x for phrase in category.phrases for x in _expand(phrase.seq, self.groups, cap) if x}
            out[category.name] = sorted(spelled)
        return out


_TOP_KEYS = frozenset({"language", "groups", "categories", "negation", "denials", "safe"})
_NEGATION_KEYS = frozenset({"window", "before", "after", "pseudo", "clause_breaks"})
_DENIAL_KEYS = frozenset({"phrases", "unless_followed_by"})
_CATEGORY_KEYS = frozenset({"severity", "negatable", "phrases", "unless_followed_by"})


class _LexiconBuilder:
    def __init__(self, language: str, data: Mapping[str, Any], source: str) -> None:
        self.language, self.data, self.source = language, data, source
        self.groups: dict[str, list[_Seq]] = {}
        self.planner = _KeyPlanner(self.groups)
        self.end_rx = "(?!)"
        self._group_rx: dict[str, str] = {}

    def fail(self, where: str, why: str) -> LexiconError:
        return LexiconError(f"{self.source}: {where}: {why}")

    def mapping(self, value: Any, where: str, allowed: frozenset[str] | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, "expected a mapping of keys to values")
        unknown = sorted(set(value) - allowed) if allowed is not None else []
        if unknown:
            raise self.fail(where, f"unknown key(s) {unknown}; allowed: {sorted(allowed or ())}")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, "expected a list of phrases (quote each one)")
        return value

    def parse(self, phrase: str, where: str, *, follower: bool = False) -> _Seq:
        """`follower` phrases are checked right after a match, so they may start with '...'."""
        try:
            seq = _parse(phrase, follower=follower)
            self.check_refs(seq)
        except LexiconError as exc:
            raise self.fail(where, f"{phrase!r}: {exc}") from None
        return seq

    def check_refs(self, seq: _Seq) -> None:
        for node in seq:
            if isinstance(node, _Ref) and node.name not in self.groups:
                raise LexiconError(f"unknown group @{node.name} (define a group above its first use)")
            if isinstance(node, _Alt):
                for option in node.options:
                    self.check_refs(option)

    def rx(self, seq: _Seq, sep: str = " ") -> str:
        """Regex of a phrase; `sep` goes before its first word. Separators sit outside
        alternations, so each alternative starts with a letter the regex engine rejects at once."""
        parts: list[str] = []
        for node in seq:
            if isinstance(node, _Lit):
                parts.append(sep + _literal_rx(node))
            elif isinstance(node, _AnyWord):
                parts.append(sep + r"[\w']+")
            elif isinstance(node, _Gap):
                parts.append(_GAP_RX)
            elif isinstance(node, _End):
                parts.append(self.end_rx)
                continue
            else:
                options = node.options if isinstance(node, _Alt) else self.groups[node.name]
                optional = isinstance(node, _Alt) and node.optional
                if any(isinstance(o[0], _End) for o in options):
                    # "($|again)": the end-of-sentence check looks before the separator
                    parts.append("(?:" + "|".join(self.rx(o, sep) for o in options) + ")" + "?" * optional)
                    if optional:
                        continue
                elif optional:
                    inner = "(?:" + "|".join(self.rx(o, "") for o in options) + ")"
                    # absent, the next word keeps this separator; present, it needs its own
                    parts.append(f"(?:{sep}{inner})?" if sep else f"(?:{inner}{_SEP})?")
                    continue
                else:
                    parts.append(sep + self.alternatives(node, options))
            sep = _SEP
        return "".join(parts)

    def alternatives(self, node: _Alt | _Ref, options: Sequence[_Seq]) -> str:
        if isinstance(node, _Ref):
            if node.name not in self._group_rx:
                self._group_rx[node.name] = "(?:" + "|".join(self.rx(o, "") for o in options) + ")"
            return self._group_rx[node.name]
        return "(?:" + "|".join(self.rx(o, "") for o in options) + ")"

    def phrase(self, text: str, where: str, *, follower: bool = False) -> _Phrase:
        seq = self.parse(text, where, follower=follower)
        if _min_words(seq, self.groups) == 0:
            raise self.fail(where, f"{text!r} can match nothing at all; make at least one word required")
        rx = re.compile(self.rx(seq, _SEP if follower else " "))
        return _Phrase(text, seq, rx, *self.planner.gate(seq))

    def alternation(self, phrases: Sequence[str], where: str, *, follower: bool = False) -> re.Pattern[str]:
        sep = _SEP if follower else " "
        rxs = [self.rx(self.parse(p, f"{where}[{i}]", follower=follower), sep) for i, p in enumerate(phrases)]
        return re.compile("|".join(f"(?:{r})" for r in rxs) if rxs else "(?!)")

    def build(self) -> Lexicon:
        data = self.mapping(self.data, "top level", _TOP_KEYS)
        declared = data.get("language", self.language)
        if declared != self.language:
            raise self.fail("language", f"says {declared!r} but the file is for {self.language!r}")
        negation = self.mapping(data.get("negation"), "negation", _NEGATION_KEYS)
        breaks = self.strings(negation.get("clause_breaks"), "negation.clause_breaks")
        break_rx = "|".join(
            self.rx(self.parse(b, f"negation.clause_breaks[{i}]")) for i, b in enumerate(breaks)
        )
        self.end_rx = r"(?=$| \.(?: |$)" + (f"|(?:{break_rx})(?!\\w)" if break_rx else "") + ")"
        for name, phrases in self.mapping(data.get("groups"), "groups", None).items():
            if not re.fullmatch(r"\w+", str(name)):
                raise self.fail(f"groups.{name}", "group names are letters, digits and _ only")
            seqs = [
                self.parse(p, f"groups.{name}[{i}]")
                for i, p in enumerate(self.strings(phrases, f"groups.{name}"))
            ]
            if not seqs:
                raise self.fail(f"groups.{name}", "a group needs at least one phrase")
            self.groups[str(name)] = seqs
        categories = self.categories(data.get("categories"))
        window = negation.get("window", 3)
        if not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 12:
            raise self.fail("negation.window", "expected a whole number of words, 0 to 12")
        denials = self.mapping(data.get("denials"), "denials", _DENIAL_KEYS)
        deny = self.strings(denials.get("phrases"), "denials.phrases")
        breakers = self.strings(denials.get("unless_followed_by"), "denials.unless_followed_by")
        safe = self.strings(data.get("safe"), "safe")
        return Lexicon(
            language=self.language,
            categories=categories,
            negation_window=window,
            negation_before=self.alternation(
                self.strings(negation.get("before"), "negation.before"), "negation.before"
            ),
            negation_after=self.alternation(
                self.strings(negation.get("after"), "negation.after"), "negation.after", follower=True
            ),
            pseudo_negation=self.alternation(
                self.strings(negation.get("pseudo"), "negation.pseudo"), "negation.pseudo"
            ),
            clause_break=re.compile(r" \.(?= |$)" + (f"|(?:{break_rx})(?!\\w)" if break_rx else "")),
            denials=tuple(self.phrase(p, f"denials.phrases[{i}]") for i, p in enumerate(deny)),
            denial_breakers=tuple(
                self.phrase(p, f"denials.unless_followed_by[{i}]", follower=True)
                for i, p in enumerate(breakers)
            ),
            safe=tuple(self.phrase(p, f"safe[{i}]") for i, p in enumerate(safe)),
            groups=self.groups,
        )

    def categories(self, value: Any) -> tuple[Category, ...]:
        if not isinstance(value, Mapping) or not value:
            raise self.fail("categories", "expected at least one category")
        out: list[Category] = []
        for name, raw in value.items():
            where = f"categories.{name}"
            spec = self.mapping(raw, where, _CATEGORY_KEYS)
            try:
                severity = Severity(str(spec.get("severity")))
            except ValueError:
                raise self.fail(where, "severity must be critical, high or medium") from None
            if severity is Severity.NONE:
                raise self.fail(where, "severity must be critical, high or medium")
            negatable = spec.get("negatable", severity is not Severity.CRITICAL)
            if not isinstance(negatable, bool):
                raise self.fail(where, "negatable must be true or false")
            if negatable and severity is Severity.CRITICAL:
                raise self.fail(where, "critical categories cannot be negatable; add clear denials instead")
            phrases = self.strings(spec.get("phrases"), f"{where}.phrases")
            if not phrases:
                raise self.fail(where, "a category needs at least one phrase")
            compiled = tuple(self.phrase(p, f"{where}.phrases[{i}]") for i, p in enumerate(phrases))
            after = self.strings(spec.get("unless_followed_by"), f"{where}.unless_followed_by")
            if after and not negatable:
                raise self.fail(where, "unless_followed_by needs a negatable (high or medium) category")
            after_rx = (
                self.alternation(after, f"{where}.unless_followed_by", follower=True) if after else None
            )
            out.append(Category(str(name), severity, negatable, compiled, after_rx))
        return tuple(out)


# --- matching --------------------------------------------------------------------------------

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


def _graded(severity: Severity, effect: str) -> tuple[Severity, bool]:
    """A finding's severity under its modifiers' effect: a critical one made "possible" (negated,
    hedged) is paged at high as a possible crisis; (severity, possible)."""
    possible = effect == POSSIBLE and severity is Severity.CRITICAL
    return (Severity.HIGH if possible else severity), possible


class Scorer(Protocol):
    """The statistical recall net (`flows.triage_model.TriageModel`)."""

    def score_normalized(self, norm: str) -> ModelScore: ...

    def severity(self, score: ModelScore) -> Severity: ...


class Triage:
    """Free-text triage over every configured language: the lexicon's phrases, the concept rules
    and their modifiers (`flows.concepts`), and the statistical model, which may only raise."""

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
            # alert head's threshold is set for this (see `flows.triage_training.FALSE_ALARMS`).
            matches.append(Match("possible_risk", Severity.HIGH, "", source="model"))
        return TriageResult.from_matches(matches, score)
