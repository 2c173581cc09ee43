"""Local-time arithmetic across time zones and DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.local_time import local_date, next_due, parse_days


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_next_due_same_day_and_next_day() -> None:
    # 2026-03-02 is a Monday; 09:00 New York (EST) is 14:00 UTC.
    assert next_due(utc(2026, 3, 2, 12, 0), "America/New_York", "09:00") == utc(2026, 3, 2, 14, 0)
    assert next_due(utc(2026, 3, 2, 14, 0), "America/New_York", "09:00") == utc(2026, 3, 3, 14, 0)


def test_spring_forward_gap_moves_to_first_valid_minute() -> None:
    # 2026-03-08 02:30 does not exist in New York; 03:00 EDT is 07:00 UTC.
    assert next_due(utc(2026, 3, 8, 0, 0), "America/New_York", "02:30") == utc(2026, 3, 8, 7, 0)


def test_fall_back_repeated_time_happens_once() -> None:
    # 2026-11-01 01:30 happens twice in New York; the first is 05:30 UTC (EDT).
    first = next_due(utc(2026, 11, 1, 0, 0), "America/New_York", "01:30")
    assert first == utc(2026, 11, 1, 5, 30)
    assert next_due(first, "America/New_York", "01:30") == utc(2026, 11, 2, 6, 30)


def test_lord_howe_half_hour_shift() -> None:
    # Lord Howe moves clocks 30 minutes: 2026-10-04 02:00-02:30 does not exist there.
    due = next_due(utc(2026, 10, 3, 12, 0), "Australia/Lord_Howe", "02:15")
    assert due.astimezone(UTC) == utc(2026, 10, 3, 15, 30)  # 02:30 +11:00


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        ("Pacific/Honolulu", utc(2026, 3, 2, 19, 0)),
        ("Europe/Madrid", utc(2026, 3, 3, 8, 0)),
        ("America/Los_Angeles", utc(2026, 3, 2, 17, 0)),
    ],
)
def test_other_zones(tz: str, expected: datetime) -> None:
    assert next_due(utc(2026, 3, 2, 12, 0), tz, "09:00") == expected


def test_days_of_week() -> None:
    # Monday noon UTC; only Wednesdays → 2026-03-04.
    assert next_due(utc(2026, 3, 2, 12, 0), "America/New_York", "09:00", "wed") == utc(2026, 3, 4, 14, 0)
    with pytest.raises(ValueError, match="unknown day"):
        parse_days("mon,funday")


def test_local_date() -> None:
    assert local_date(utc(2026, 3, 3, 3, 0), "America/Los_Angeles") == "2026-03-02"
