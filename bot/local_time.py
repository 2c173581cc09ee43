"""Local-time schedule arithmetic: when is a person's next check-in, in UTC (pure; alerts, people, staff
and check-ins all use it, so it sits below them; issue 14 moves it into flows/).

DST: a wall-clock time that does not exist on a spring-forward day is moved to the first valid minute
after the gap; one that happens twice on a fall-back day is taken at its first occurrence, once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from config.settings import DEFAULT_QUIET_HOURS

ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_days(days: str) -> frozenset[int]:
    """'mon,wed,fri' → weekday numbers (Monday = 0)."""
    wanted = {d.strip().lower()[:3] for d in days.split(",") if d.strip()}
    unknown = wanted - set(ALL_DAYS)
    if unknown:
        raise ValueError(f"unknown day(s) {', '.join(sorted(unknown))}: use mon,tue,wed,thu,fri,sat,sun")
    return frozenset(ALL_DAYS.index(d) for d in wanted)


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def occurrence(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    """The UTC instant of local `hhmm` on `day`, applying the DST rules above."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    naive = datetime.combine(day, time(hour, minute))
    step = 0
    while not _exists(naive, tz) and step < 24 * 60:  # gaps are at most a few hours
        naive += timedelta(minutes=1)
        step += 1
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_due(after: datetime, timezone: str, hhmm: str, days: str = ",".join(ALL_DAYS)) -> datetime:
    """The first occurrence strictly after `after` on one of `days`."""
    tz = ZoneInfo(timezone)
    weekdays = parse_days(days)
    if not weekdays:
        raise ValueError("a schedule needs at least one day")
    start = after.astimezone(tz).date() - timedelta(days=1)
    for offset in range(9):
        day = start + timedelta(days=offset)
        if day.weekday() in weekdays:
            when = occurrence(day, hhmm, tz)
            if when > after:
                return when
    raise AssertionError("unreachable: some weekday falls within 9 days")


def last_due(instant: datetime, timezone: str, hhmm: str, days: str = ",".join(ALL_DAYS)) -> datetime:
    """The last occurrence at or before `instant` on one of `days`."""
    tz = ZoneInfo(timezone)
    weekdays = parse_days(days)
    if not weekdays:
        raise ValueError("a schedule needs at least one day")
    start = instant.astimezone(tz).date() + timedelta(days=1)
    for offset in range(9):
        day = start - timedelta(days=offset)
        if day.weekday() in weekdays:
            when = occurrence(day, hhmm, tz)
            if when <= instant:
                return when
    raise AssertionError("unreachable: some weekday falls within 9 days")


def local_date(instant: datetime, timezone: str) -> str:
    return instant.astimezone(ZoneInfo(timezone)).date().isoformat()


QuietHours = tuple[str, str]
DEFAULT_QUIET: QuietHours = (DEFAULT_QUIET_HOURS[:5], DEFAULT_QUIET_HOURS[6:])


def _minutes(hhmm: str) -> int:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return hour * 60 + minute


def is_quiet_time(hhmm: str, quiet: QuietHours) -> bool:
    """Whether the local wall-clock time `hhmm` falls in the quiet window [start, end), which may span
    midnight."""
    now, start, end = _minutes(hhmm), _minutes(quiet[0]), _minutes(quiet[1])
    if start == end:
        return False
    return start <= now < end if start < end else now >= start or now < end


def in_quiet_hours(instant: datetime, timezone: str, quiet: QuietHours) -> bool:
    """Whether `instant` falls in the local quiet window."""
    local = instant.astimezone(ZoneInfo(timezone))
    return is_quiet_time(f"{local.hour:02d}:{local.minute:02d}", quiet)


def quiet_hours_end(instant: datetime, timezone: str, quiet: QuietHours) -> datetime:
    """The first instant after `instant` at which the local quiet window ends."""
    tz = ZoneInfo(timezone)
    day = instant.astimezone(tz).date()
    for offset in range(2):
        when = occurrence(day + timedelta(days=offset), quiet[1], tz)
        if when > instant:
            return when
    raise AssertionError("unreachable: the window ends within a day")
