"""The period a report covers: whole days in the program's time zone, `--to` inclusive."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UserError


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date  # inclusive
    timezone: str

    @property
    def start(self) -> datetime:
        """The first instant of the period, UTC."""
        return datetime.combine(self.first, time(0), ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period, UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(0), ZoneInfo(self.timezone)).astimezone(
            UTC
        )

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def local_date(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()

    def weeks(self) -> list[tuple[datetime, datetime]]:
        """The period in weeks of seven days from its first day (the last may be shorter), UTC bounds."""
        zone = ZoneInfo(self.timezone)
        bounds = []
        day = self.first
        while day <= self.last:
            upto = min(day + timedelta(days=7), self.last + timedelta(days=1))
            bounds.append(
                (
                    datetime.combine(day, time(0), zone).astimezone(UTC),
                    datetime.combine(upto, time(0), zone).astimezone(UTC),
                )
            )
            day = upto
        return bounds


def _day(name: str, value: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise UserError(f"bad {name} {value!r}: use a date such as 2026-03-01") from None
    if not 2000 <= day.year <= 2199:
        raise UserError(f"bad {name} {value!r}: give a date between the years 2000 and 2199")
    return day


def parse_day(name: str, value: str, timezone: str) -> Period:
    """One day given as option `name` (`--expires 2027-01-31`), as a period of that day."""
    day = _day(name, value)
    return Period(day, day, timezone)


def parse_period(first: str, last: str, timezone: str) -> Period:
    """`--from` and `--to` as ISO dates; one line naming the argument when either is wrong."""
    parsed = [_day("--from", first), _day("--to", last)]
    if parsed[1] < parsed[0]:
        raise UserError(
            f"--to {last} is before --from {first}: the period runs from --from to --to, inclusive"
        )
    return Period(parsed[0], parsed[1], timezone)


def parse_month(value: str, timezone: str) -> Period:
    """`--month YYYY-MM` as the period of that calendar month."""
    try:
        first = date.fromisoformat(f"{value.strip()}-01")
    except ValueError:
        raise UserError(f"bad --month {value!r}: use YYYY-MM, e.g. 2026-03") from None
    if not 2000 <= first.year <= 2199:
        raise UserError(f"bad --month {value!r}: give a month between the years 2000 and 2199")
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return Period(first, following - timedelta(days=1), timezone)


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or below
    it (p50 of 1, 2, 3, 4 is 2). None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


class Pseudonyms:
    """Stable pseudonyms for `--deidentify`: the same person gets the same one on every run with the same
    secret (PEERLINE_ENCRYPTION_KEY when set), and nothing about the person can be read from it."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"peerline pseudonyms v1|" + secret.encode("utf-8")).digest()

    def __call__(self, kind: str, person_id: int) -> str:
        digest = hmac.new(self._key, f"{kind}:{person_id}".encode("ascii"), hashlib.sha256).hexdigest()
        return f"{kind[:1].upper()}-{digest[:8].upper()}"
