"""Scheduled check-ins: the right local time, once a day, across zones, DST, quiet hours and downtime."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.clock import ManualClock
from bot.people import add_person
from bot.scheduler import tick
from bot.schedules import update_schedule
from storage.models import AuditEvent, FlowSession, Role


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _enrol(app: App, tz: str, time: str, name: str = "Alex") -> None:
    async with app.db.transaction() as s:
        await add_person(
            s, app.clock.now(), role=Role.PIR, name=name, console=name.lower(), timezone=tz, checkin_time=time
        )


async def _sessions(app: App) -> list[tuple[str, datetime]]:
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(FlowSession).order_by(col(FlowSession.id)))).all()
    return [(r.local_date or "", r.started_at) for r in rows]


async def _run(
    app: App, clock: ManualClock, until: datetime, step: timedelta = timedelta(minutes=10)
) -> None:
    """Tick every `step` until `until`, like `serve` does."""
    while clock.now() < until:
        clock.advance(step)
        await tick(app)


@pytest.mark.parametrize(
    ("tz", "first_utc"),
    [
        ("America/Los_Angeles", utc(2026, 3, 2, 17, 0)),
        ("America/New_York", utc(2026, 3, 3, 14, 0)),  # 09:00 today was exactly START: sent at the next tick
        ("Pacific/Honolulu", utc(2026, 3, 2, 19, 0)),
        ("Europe/Madrid", utc(2026, 3, 3, 8, 0)),
        ("Australia/Lord_Howe", utc(2026, 3, 2, 22, 0)),
    ],
)
async def test_daily_at_local_time_in_every_zone(
    app: App, clock: ManualClock, tz: str, first_utc: datetime
) -> None:
    clock.set(utc(2026, 3, 2, 14, 1))  # enrol just after 09:00 New York
    await _enrol(app, tz, "09:00")
    await _run(app, clock, clock.now() + timedelta(days=3))
    started = [when for _, when in await _sessions(app)]
    assert len(started) == 3
    assert timedelta(0) <= started[0] - first_utc < timedelta(minutes=10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert all(abs(gap - timedelta(days=1)) < timedelta(minutes=11) for gap in gaps), gaps


async def test_spring_forward_missing_time_is_sent_once_at_the_first_valid_minute(
    app: App, clock: ManualClock
) -> None:
    app.settings.quiet_hours = "off"  # 02:30 is inside the default quiet window
    clock.set(utc(2026, 3, 7, 12, 0))
    await _enrol(app, "America/New_York", "02:30")
    await _run(app, clock, utc(2026, 3, 9, 12, 0))
    sessions = await _sessions(app)
    assert [d for d, _ in sessions] == ["2026-03-08", "2026-03-09"]
    assert sessions[0][1] == utc(2026, 3, 8, 7, 0)  # 03:00 EDT, the first minute after the gap


async def test_fall_back_repeated_time_is_sent_once(app: App, clock: ManualClock) -> None:
    app.settings.quiet_hours = "off"
    clock.set(utc(2026, 10, 31, 12, 0))
    await _enrol(app, "America/New_York", "01:30")
    await _run(app, clock, utc(2026, 11, 2, 12, 0))
    sessions = await _sessions(app)
    assert [d for d, _ in sessions] == ["2026-11-01", "2026-11-02"]
    assert sessions[0][1] == utc(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)


async def test_madrid_dst(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 27, 12, 0))  # clocks go forward in Madrid on Sunday 29 March
    await _enrol(app, "Europe/Madrid", "09:00")
    await _run(app, clock, utc(2026, 3, 29, 12, 0))
    started = [when for _, when in await _sessions(app)]
    assert [w.hour for w in started] == [8, 7]  # 09:00 CET, then 09:00 CEST


async def test_quiet_hours_hold_a_late_check_in_until_morning(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "22:00")
    await _run(app, clock, utc(2026, 3, 3, 13, 50))
    assert await _sessions(app) == []  # 22:00 is quiet: nothing at night
    await _run(app, clock, utc(2026, 3, 3, 14, 10))
    sessions = await _sessions(app)
    assert len(sessions) == 1
    assert sessions[0][1] - utc(2026, 3, 3, 14, 0) < timedelta(minutes=10)  # 09:00, the end of quiet hours


async def test_a_reminder_that_would_land_at_night_is_dropped(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "19:30")  # reminder 2 h later = 21:30, in quiet hours
    await _run(app, clock, utc(2026, 3, 3, 3, 0))
    async with app.db.transaction() as s:
        actions = [e.action for e in (await s.scalars(select(AuditEvent))).all()]
    assert "checkin.started" in actions
    assert "checkin.reminder_dropped" in actions
    assert "checkin.reminded" not in actions


async def test_paused_schedule_sends_nothing_until_resumed(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00")
    async with app.db.transaction() as s:
        await update_schedule(s, clock.now(), "Alex", paused=True)
    await _run(app, clock, utc(2026, 3, 4, 12, 0))
    assert await _sessions(app) == []
    async with app.db.transaction() as s:
        await update_schedule(s, clock.now(), "Alex", paused=False)
    await _run(app, clock, utc(2026, 3, 4, 15, 0))
    assert [d for d, _ in await _sessions(app)] == ["2026-03-04"]


async def test_catch_up_after_downtime_within_grace_only(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00", name="Alex")
    await _enrol(app, "America/Chicago", "08:00", name="Robin")  # due 14:00 UTC too
    # the worker is down from 13:00 to 16:30 UTC: Alex (due 14:00 UTC) is 2.5 h late, within grace
    clock.set(utc(2026, 3, 2, 16, 30))
    report = await tick(app)
    assert report.started == 2
    # down again for a day: the 3 March check-ins are 6+ hours old when it comes back → missed
    clock.set(utc(2026, 3, 3, 22, 0))
    report = await tick(app)
    assert (report.started, report.missed) == (0, 2)
    assert len(await _sessions(app)) == 2


async def test_changing_time_zone_the_same_day_does_not_send_twice(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 13, 0))
    await _enrol(app, "America/New_York", "09:00")
    await _run(app, clock, utc(2026, 3, 2, 14, 30))
    assert len(await _sessions(app)) == 1
    # moving to Los Angeles makes "09:00 today" happen again at 17:00 UTC: it must not repeat
    async with app.db.transaction() as s:
        await update_schedule(s, clock.now(), "Alex", timezone="America/Los_Angeles")
    await _run(app, clock, utc(2026, 3, 3, 18, 0))
    assert [d for d, _ in await _sessions(app)] == ["2026-03-02", "2026-03-03"]
    assert (await _sessions(app))[1][1] - utc(2026, 3, 3, 17, 0) < timedelta(minutes=10)


async def test_days_of_week(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))  # Monday
    await _enrol(app, "America/New_York", "09:00")
    async with app.db.transaction() as s:
        await update_schedule(s, clock.now(), "Alex", days="mon,thu")
    await _run(app, clock, utc(2026, 3, 9, 15, 0), step=timedelta(minutes=30))
    assert [d for d, _ in await _sessions(app)] == ["2026-03-02", "2026-03-05", "2026-03-09"]
