"""Checking import rows, pure: the same checks as `people add` and `assign`, against what is enrolled
and against the rows above."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.errors import UserError
from bot.people.importing import Defaults, Known, check_rows, read_csv
from storage.models import Person, Role

DEFAULTS = Defaults("America/New_York", "09:00", ("21:00", "09:00"))
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _known(*people: tuple[int, Role, str], taken: dict[tuple[str, str], int] | None = None) -> Known:
    return Known([Person(id=i, role=r, name=n, created_at=NOW) for i, r, n in people], taken or {})


def _rows(*records: dict[str, str]) -> list[tuple[int, dict[str, str]]]:
    return [(line, record) for line, record in enumerate(records, start=2)]


def test_a_good_row_gets_the_defaults_and_stored_forms() -> None:
    good, reports = check_rows(
        _rows({"role": "PIR", "name": "  Alex   Rivera ", "phone": "(415) 555-0123", "checkin_time": "9:30"}),
        _known(),
        DEFAULTS,
    )
    assert [r.ok for r in reports] == [True]
    (row,) = good
    assert (row.role, row.name, row.timezone, row.locale, row.checkin_time) == (
        Role.PIR,
        "Alex Rivera",
        "America/New_York",
        "en",
        "09:30",
    )
    assert row.identities == [("sms", "+14155550123")]


def test_team_members_may_be_enrolled_or_on_a_line_above_by_name_or_id() -> None:
    known = _known((7, Role.SUPERVISOR, "Dana Lee"))
    good, reports = check_rows(
        _rows(
            {"role": "peer", "name": "Sam Stone"},
            {"role": "pir", "name": "Alex", "peer": "sam", "supervisor": "7"},
        ),
        known,
        DEFAULTS,
    )
    assert all(r.ok for r in reports)
    assert good[1].team == {"peer": -2, "supervisor": 7}  # line 2 of the file; person 7


def test_a_staff_member_named_on_a_line_below_is_not_found() -> None:
    _, reports = check_rows(
        _rows({"role": "pir", "name": "Alex", "peer": "Sam"}, {"role": "peer", "name": "Sam"}),
        _known(),
        DEFAULTS,
    )
    assert reports[0].reason == "no person named 'Sam', enrolled or on a line above"
    assert reports[1].ok


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"role": "pir", "name": ""}, "a name is required"),
        ({"role": "pir", "name": "A", "telegram": "abc"}, "bad Telegram chat id 'abc'"),
        ({"role": "pir", "name": "A", "credential": "CPRS"}, "--credential is for staff"),
        ({"role": "pir", "name": "A", "telegram": "42"}, "telegram 42 already belongs to person 9"),
        ({"role": "pir", "name": "A", "peer": "Dana"}, "Dana Lee is a supervisor, not a peer"),
        ({"role": "pir", "name": "A", "supervisor": "Dana"}, "A has no care team yet: give a peer"),
        (
            {"role": "pir", "name": "A", "peer": "Sam", "backup": "Dana", "supervisor": "Dana"},
            "the backup and the supervisor must be different people",
        ),
        ({"role": "pir", "name": "A", "peer": "S"}, "'S' is ambiguous: Sam (id 3, peer), Sid (id 4, peer)"),
    ],
)
def test_a_bad_row_says_why(record: dict[str, str], reason: str) -> None:
    known = _known(
        (3, Role.PEER, "Sam"),
        (4, Role.PEER, "Sid"),
        (7, Role.SUPERVISOR, "Dana Lee"),
        taken={("telegram", "42"): 9},
    )
    good, reports = check_rows(_rows(record), known, DEFAULTS)
    assert good == []
    assert reports[0].reason is not None
    assert reports[0].reason.startswith(reason)


def test_an_address_twice_in_the_file_names_the_first_line() -> None:
    _, reports = check_rows(
        _rows(
            {"role": "pir", "name": "A", "phone": "+14155550123"},
            {"role": "pir", "name": "B", "phone": "4155550123"},
        ),
        _known(),
        DEFAULTS,
    )
    assert reports[1].reason == "sms +14155550123 is also on line 2"


def test_read_csv_numbers_lines_skips_blank_ones_and_refuses_unknown_columns() -> None:
    rows = read_csv("role,name\npir,Alex\n,\nfamily,Jo\n")
    assert rows == [(2, {"role": "pir", "name": "Alex"}), (4, {"role": "family", "name": "Jo"})]
    with pytest.raises(UserError, match="unknown column 'email'"):
        read_csv("role,name,email\n")
    with pytest.raises(UserError, match="no name column"):
        read_csv("role\npir\n")
