"""The set-based start of due check-ins (`bot.checkins.starting`) against the one-by-one reference path:
the same program, ticked on the same clock, leaves the same sessions, messages, outbox and audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.checkins.schedule_changes import update_schedule
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.people.enrolment import add_person
from config.settings import Settings
from storage.models import AuditEvent, FlowSession, Outbox, Role

PEOPLE = [  # name, role, zone, check-in time
    ("Alex", Role.PIR, "America/New_York", "09:00"),
    ("Blair", Role.PIR, "America/Los_Angeles", "20:30"),
    ("Casey", Role.PIR, "Europe/Madrid", "10:00"),
    ("Drew", Role.PIR, "Pacific/Honolulu", "12:15"),
    ("Emery", Role.FAMILY, "America/New_York", "19:00"),
    ("Frankie", Role.PIR, "Australia/Lord_Howe", "10:00"),
]


async def _program(tmp: Path, name: str) -> tuple[App, ManualClock]:
    clock = ManualClock(datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    app = App.build(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp / name}"),
        clock=clock,
        channels={"console": ConsoleChannel()},
    )
    await app.db.create_all()
    async with app.db.transaction() as s:
        for who, role, zone, time in PEOPLE:
            await add_person(
                s,
                clock.now(),
                role=role,
                name=who,
                console=who.lower(),
                timezone=zone,
                checkin_time=time,
                quiet=app.settings.quiet_window,
            )
        await update_schedule(s, clock.now(), "Casey", paused=True)  # paused: nothing for Casey
    return app, clock


async def _record(app: App) -> dict[str, list[Any]]:
    async with app.db.transaction() as s:
        sessions = (await s.scalars(select(FlowSession).order_by(col(FlowSession.id)))).all()
        outbox = (await s.scalars(select(Outbox).order_by(col(Outbox.id)))).all()
        events = (await s.scalars(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        return {
            "sessions": [
                (r.person_id, r.flow_id, r.local_date, r.status, r.started_at, r.expires_at) for r in sessions
            ],
            "outbox": [
                (o.channel, o.address, o.body, o.buttons, o.priority, o.next_attempt_at) for o in outbox
            ],
            "audit": [(e.action, e.person_id, e.at) for e in events],
        }


async def test_the_set_based_start_leaves_what_the_one_by_one_path_leaves(tmp_path: Path) -> None:
    reference, ref_clock = await _program(tmp_path, "one_by_one.db")
    ours, our_clock = await _program(tmp_path, "set_based.db")
    try:
        # a day of ten-minute ticks, then an outage of 30 hours (misses, catch-up within grace), then more
        steps = [timedelta(minutes=10)] * 150 + [timedelta(hours=30)] + [timedelta(minutes=10)] * 150
        started = 0
        for step in steps:
            ref_clock.advance(step)
            our_clock.advance(step)
            expected = await tick(reference, set_based=False)
            got = await tick(ours)
            assert got == expected, ref_clock.now()
            started += got.started
        assert started >= 8  # the program really ran: several days of check-ins for five people
        assert await _record(ours) == await _record(reference)
    finally:
        await reference.close()
        await ours.close()
