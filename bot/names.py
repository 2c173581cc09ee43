"""Finding a person by what an operator or a peer types, the same way for the CLI and for chat commands.

In order, the first rule that names anyone decides: the full name, then the first name, then the start
of a name (`ale` for Alex Rivera), all without regard to case. One person found is the answer; several
are an ambiguity, reported with every candidate so the next try can be exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.models import Person


@dataclass(frozen=True, slots=True)
class NameMatch:
    """Who `words` named: one person, several (ambiguous) or nobody, and how many words the name took."""

    people: tuple[Person, ...] = ()
    used: int = 0

    @property
    def person(self) -> Person | None:
        return self.people[0] if len(self.people) == 1 else None

    @property
    def ambiguous(self) -> bool:
        return len(self.people) > 1


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _first(name: str) -> str:
    folded = _fold(name)
    return folded.split(" ", 1)[0] if folded else ""


_RULES: tuple[Callable[[str, str], bool], ...] = (
    lambda name, typed: _fold(name) == typed,
    lambda name, typed: " " not in typed and _first(name) == typed,
    lambda name, typed: _fold(name).startswith(typed),
)


def match_name(people: Sequence[Person], words: Sequence[str], *, whole: bool = True) -> NameMatch:
    """The person named by `words` among `people`.

    With `whole`, every word is the name (a CLI argument). Without it, the name is the longest run of
    leading words that names someone and the rest is left to the caller (`REPLY Alex Rivera see you`).
    """
    words = [w for w in words if w]
    if not words:
        return NameMatch()
    sizes = [len(words)] if whole else list(range(len(words), 0, -1))
    for rule in _RULES:
        for size in sizes:
            typed = _fold(" ".join(words[:size]))
            found = {p.id: p for p in people if rule(p.name, typed)}
            if found:
                return NameMatch(tuple(found.values()), size)
    return NameMatch()


def candidates_text(people: Sequence[Person], *, handle: bool = False) -> str:
    """`Alex Rivera (id 3, pir), Alex Stone (id 5, peer)`, or with `handle` `Alex Rivera (@3), …`."""
    if handle:
        return ", ".join(f"{p.name} (@{p.id})" for p in people)
    return ", ".join(f"{p.name} (id {p.id}, {p.role})" for p in people)
