"""Finding a person by what an operator or a peer types, the same way for the CLI and for chat commands.

In order, the first rule that names anyone decides: the full name, then the first name, then the start
of a name (`ale` for Alex Rivera), all without regard to case. One person found is the answer; several
are an ambiguity, reported with every candidate so the next try can be exact.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.errors import UserError
from flows.numbers import parse_id
from storage.models import Person, Role


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


async def resolve(s: AsyncSession, who: str, role: Role | Collection[Role] | None = None) -> Person:
    """The CLI's WHO: one person by id, or by name as `match_name` finds it among everyone enrolled.

    With `role`, the name is looked for among people of that role (or roles) first, so `--pir alex`
    means the PIR Alex even when a peer is called Alexandra.
    """
    roles: Collection[Role] | None = (role,) if isinstance(role, Role) else role
    if (number := parse_id(who)) is not None:
        person = await s.get(Person, number)
        if person is None:
            raise UserError(f"no person with id {who.strip()}; see `peerline people list`")
        _check_role(person, roles)
        return person
    everyone = (await s.scalars(select(Person).order_by(col(Person.id)))).all()
    words = who.split()
    match = match_name([p for p in everyone if roles is None or p.role in roles], words)
    if not match.people and roles is not None:
        match = match_name(everyone, words)
        if match.person is not None:
            _check_role(match.person, roles)
    if match.ambiguous:
        raise UserError(
            f"{who.strip()!r} is ambiguous: {candidates_text(match.people)}; use the id or more of the name"
        )
    if match.person is None:
        raise UserError(f"no person named {who.strip()!r}; see `peerline people list`")
    return match.person


def _check_role(person: Person, roles: Collection[Role] | None) -> None:
    if roles is not None and person.role not in roles:
        wanted = " or ".join(roles)
        raise UserError(f"{person.name} (id {person.id}) is {_a(person.role)}, not {_a(wanted)}")


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"
