"""The one name resolver of the CLI and chat commands: full name, first name, a unique start."""

from __future__ import annotations

import pytest

from bot.people.names import candidates_text, match_name
from storage.models import Person, Role

PEOPLE = [
    Person(id=1, role=Role.PIR, name="Alex Rivera"),
    Person(id=2, role=Role.PIR, name="Alexis Moore"),
    Person(id=3, role=Role.PEER, name="Sam"),
    Person(id=4, role=Role.PIR, name="Samantha Cruz"),
]


@pytest.mark.parametrize(
    ("typed", "ids"),
    [
        ("alex rivera", [1]),  # the full name, any case
        ("ALEX", [1]),  # a first name before the start of a longer one (Alexis)
        ("sam", [3]),  # a full name before a first name's start (Samantha)
        ("alexi", [2]),  # a unique start
        ("samantha c", [4]),  # the start of a full name
        ("al", [1, 2]),  # ambiguous: every candidate
        ("  Alex   Rivera ", [1]),  # spaces do not count
        ("rivera", []),  # a surname alone is nobody
        ("", []),
    ],
)
def test_whole_names(typed: str, ids: list[int]) -> None:
    assert [p.id for p in match_name(PEOPLE, typed.split()).people] == ids


def test_a_chat_command_takes_the_longest_name_and_leaves_the_rest() -> None:
    match = match_name(PEOPLE, ["Alex", "Rivera", "see", "you", "at", "5"], whole=False)
    assert (match.person, match.used) == (PEOPLE[0], 2)
    match = match_name(PEOPLE, ["alexi", "call", "me"], whole=False)
    assert (match.person, match.used) == (PEOPLE[1], 1)
    assert match_name(PEOPLE, ["al", "hi"], whole=False).ambiguous
    assert match_name(PEOPLE, ["nobody", "here"], whole=False).people == ()


def test_candidates_are_listed_on_one_line() -> None:
    assert candidates_text(PEOPLE[:2]) == "Alex Rivera (id 1, pir), Alexis Moore (id 2, pir)"
    assert candidates_text(PEOPLE[:2], handle=True) == "Alex Rivera (@1), Alexis Moore (@2)"
