"""Scheduled check-ins: the right local time, once a day, across zones, DST, quiet hours and downtime."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.checkins.schedule_changes import update_schedule
from bot.checkins.sessions import WrongAudienceError, start_checkin
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.content import ContentError
from bot.people.enrolment import UserError, add_person, resolve
from config.settings import Settings
from storage.models import AuditEvent, CheckinSchedule, FlowSession, Outbox, Person, Role, SessionStatus


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def _enrol(app: App, tz: str, time: str, name: str = "Alex", role: Role = Role.PIR) -> None:
    async with app.db.transaction() as s:
        await add_person(
            s,
            app.clock.now(),
            role=role,
            name=name,
            console=name.lower(),
            timezone=tz,
            checkin_time=time,
            quiet=app.settings.quiet_window,
        )


async def _actions(app: App) -> list[str]:
    async with app.db.transaction() as s:
        return [e.action for e in (await s.scalars(select(AuditEvent).order_by(col(AuditEvent.id)))).all()]


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


async def test_a_check_in_time_set_before_quiet_hours_changed_waits_for_the_morning(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    app.settings.quiet_hours = "off"
    await _enrol(app, "America/New_York", "22:00")  # accepted while there were no quiet hours
    app.settings.quiet_hours = "21:00-09:00"  # then the program sets them
    await _run(app, clock, utc(2026, 3, 3, 13, 50))
    assert await _sessions(app) == []  # 22:00 is quiet: nothing at night
    await _run(app, clock, utc(2026, 3, 4, 14, 10))
    sessions = await _sessions(app)
    # each evening's check-in is held to the next 09:00 and counts for its own day: none is skipped
    assert [d for d, _ in sessions] == ["2026-03-02", "2026-03-03"]
    assert sessions[0][1] - utc(2026, 3, 3, 14, 0) < timedelta(minutes=10)  # 09:00, the end of quiet hours
    assert sessions[1][1] - utc(2026, 3, 4, 14, 0) < timedelta(minutes=10)


async def test_a_worker_six_hours_late_records_the_check_in_missed_and_sends_the_next_days(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "20:00")  # 01:00 UTC
    # the worker is down from 00:00 to 07:00 UTC: 02:00 in New York, six hours after the check-in time
    clock.set(utc(2026, 3, 3, 7, 0))
    report = await tick(app)
    assert (report.started, report.missed) == (0, 1)
    assert "checkin.missed_downtime" in await _actions(app)
    await _run(app, clock, utc(2026, 3, 4, 2, 0))
    sessions = await _sessions(app)
    # nothing at 09:00 for a check-in twelve hours stale; that day's own 20:00 still happens
    assert [d for d, _ in sessions] == ["2026-03-03"]
    assert sessions[0][1] - utc(2026, 3, 4, 1, 0) < timedelta(minutes=10)


async def test_a_day_long_outage_sends_the_check_in_due_within_grace(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00")
    # down from before Monday's 09:00 until 09:30 on Tuesday: Monday's is missed, Tuesday's is 30 min late
    clock.set(utc(2026, 3, 3, 14, 30))
    report = await tick(app)
    assert (report.started, report.missed) == (1, 1)
    assert [d for d, _ in await _sessions(app)] == ["2026-03-03"]


async def test_a_check_in_late_within_grace_but_now_in_quiet_hours_is_missed(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "20:30")
    clock.set(utc(2026, 3, 3, 2, 10))  # 21:10: 40 minutes late, within grace, but quiet hours have begun
    report = await tick(app)
    assert (report.started, report.missed, report.deferred) == (0, 1, 0)
    await _run(app, clock, utc(2026, 3, 4, 2, 0))
    assert [d for d, _ in await _sessions(app)] == ["2026-03-03"]  # not at 09:00; at 20:30 the next day


async def test_a_missed_check_in_closes_at_night_without_a_message(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00")  # expires 12 h later: 21:00, in quiet hours
    await _run(app, clock, utc(2026, 3, 3, 3, 0))
    async with app.db.transaction() as s:
        session = (await s.scalars(select(FlowSession))).one()
        bodies = [o.body for o in (await s.scalars(select(Outbox))).all()]
    assert session.status == SessionStatus.EXPIRED  # still counted as missed, at its time
    assert not [b for b in bodies if "missed you" in b.lower()]
    actions = await _actions(app)
    assert "checkin.missed" in actions
    assert "checkin.expired_notice_dropped" in actions


async def test_a_missed_check_in_outside_quiet_hours_gets_its_message(app: App, clock: ManualClock) -> None:
    app.settings.quiet_hours = "22:00-07:00"
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00")  # expires at 21:00, before these quiet hours
    await _run(app, clock, utc(2026, 3, 3, 2, 10))
    async with app.db.transaction() as s:
        bodies = [o.body for o in (await s.scalars(select(Outbox))).all()]
    assert [b for b in bodies if "missed you" in b.lower()]


@pytest.mark.parametrize(
    ("time", "refused"),
    [("22:30", True), ("21:00", True), ("08:59", True), ("20:59", False), ("09:00", False)],
)
async def test_a_check_in_time_inside_quiet_hours_is_refused(
    app: App, clock: ManualClock, time: str, refused: bool
) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    if not refused:
        await _enrol(app, "America/New_York", time)
        return
    with pytest.raises(UserError, match=r"inside quiet hours \(21:00-09:00.*PEERLINE_QUIET_HOURS"):
        await _enrol(app, "America/New_York", time)
    await _enrol(app, "America/New_York", "10:00")
    with pytest.raises(UserError, match="inside quiet hours"):
        async with app.db.transaction() as s:
            await update_schedule(s, clock.now(), "Alex", time=time, quiet=app.settings.quiet_window)
    async with app.db.transaction() as s:
        schedule = (await s.scalars(select(CheckinSchedule))).one()
    assert schedule.local_time == "10:00"


async def test_onboarding_may_not_offer_a_time_inside_quiet_hours(db_url: str, clock: ManualClock) -> None:
    with pytest.raises(ContentError, match=r"onboarding.*10:00.*PEERLINE_QUIET_HOURS"):
        App.build(Settings(database_url=db_url, quiet_hours="21:00-10:30"), clock=clock, channels={})
    fine = App.build(Settings(database_url=db_url), clock=clock, channels={})  # the default window
    await fine.close()


async def test_family_members_get_their_own_daily_check_in(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:30", name="Alex")
    async with app.db.transaction() as s:
        await add_person(s, clock.now(), role=Role.FAMILY, name="Jordan", console="jordan")
    await _run(app, clock, utc(2026, 3, 2, 15, 0))
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(FlowSession).order_by(col(FlowSession.id)))).all()
        people = {p.id: p.name for p in (await s.scalars(select(Person))).all()}
    assert [(people[r.person_id], r.flow_id) for r in rows] == [
        ("Jordan", "family_checkin"),  # 09:00, the default time, like a PIR's
        ("Alex", "daily_checkin"),
    ]


async def test_the_scheduler_never_starts_a_flow_written_for_another_audience(
    app: App, clock: ManualClock
) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "09:00", name="Jordan", role=Role.FAMILY)
    async with app.db.transaction() as s:
        schedule = (await s.scalars(select(CheckinSchedule))).one()
        schedule.flow_id = "daily_checkin"  # e.g. written by hand, or by an older version
    await _run(app, clock, utc(2026, 3, 2, 15, 0))
    assert await _sessions(app) == []
    assert "checkin.wrong_audience" in await _actions(app)


async def test_start_checkin_refuses_the_wrong_audience(app: App, clock: ManualClock) -> None:
    await _enrol(app, "America/New_York", "09:00", name="Jordan", role=Role.FAMILY)
    async with app.db.transaction() as s:
        jordan = await resolve(s, "Jordan")
        with pytest.raises(WrongAudienceError, match="family_checkin"):
            await start_checkin(s, app.content, jordan, "daily_checkin", clock.now(), app.buttons)
        assert await start_checkin(s, app.content, jordan, "family_checkin", clock.now(), app.buttons)
        assert await start_checkin(s, app.content, jordan, "onboarding", clock.now(), app.buttons)


async def test_a_reminder_that_would_land_at_night_is_dropped(app: App, clock: ManualClock) -> None:
    clock.set(utc(2026, 3, 2, 12, 0))
    await _enrol(app, "America/New_York", "19:30")  # reminder 2 h later = 21:30, in quiet hours
    await _run(app, clock, utc(2026, 3, 3, 3, 0))
    actions = await _actions(app)
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
    await _enrol(app, "America/Chicago", "09:30", name="Robin")  # due 15:30 UTC
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
