"""Times for a reader: in their zone, with the zone's name, in their language's clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.staff.reader import Reader, clock_time, when

WINTER = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # a Monday
SUMMER = datetime(2026, 7, 6, 13, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "zone", "locale", "expected"),
    [
        (WINTER, "America/Chicago", "en", "9:30 AM CST"),
        (SUMMER, "America/Chicago", "en", "8:05 AM CDT"),
        (WINTER, "Europe/Madrid", "es", "16:30 CET"),
        (SUMMER, "Europe/Madrid", "es", "15:05 CEST"),
        (WINTER, "America/New_York", "en", "10:30 AM EST"),
        (datetime(2026, 3, 2, 4, 0, tzinfo=UTC), "America/Los_Angeles", "en", "8:00 PM PST"),
        (datetime(2026, 3, 2, 17, 0, tzinfo=UTC), "America/New_York", "en", "12:00 PM EST"),
        (WINTER, "America/Sao_Paulo", "es", "12:30 UTC-03"),  # no letters for this zone: its offset
        (WINTER, "UTC", "en", "3:30 PM UTC"),
    ],
)
def test_a_time_is_shown_in_the_readers_zone_with_its_name(
    instant: datetime, zone: str, locale: str, expected: str
) -> None:
    assert clock_time(instant, zone, locale) == expected


def test_a_day_and_time_is_the_readers_day() -> None:
    late = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # Tuesday in UTC, still Monday evening in Chicago
    assert when(late, Reader("en", "America/Chicago")) == "Mon 2 Mar"
    assert when(late, Reader("en", "America/Chicago"), time=True) == "Mon 2 Mar 9:00 PM CST"
    assert when(late, Reader("es", "Europe/Madrid"), time=True) == "mar 3 mar 04:00 CET"


def test_over_sms_a_reader_gets_plain_gsm7_and_elsewhere_the_text_as_written() -> None:
    text = "✅ Sam confirmó la alerta #12 (Ramón)."
    assert Reader("es", "UTC", "sms").shape(text) == "Sam confirmo la alerta #12 (Ramon)."  # ó is not GSM-7
    assert Reader("es", "UTC", "telegram").shape(text) == text
