"""The scheduler tick: claims due work from the database. APScheduler only decides *when* to tick.

Due work: check-ins whose next due time has come, reminders, and expiries. Each is claimed and acted on
in a bounded batch inside one transaction, so a crash redoes at most one batch and never sends twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.app import App
from bot.checkins import expire, remind, start_checkin
from bot.schedule import local_date, next_due
from storage.models import CheckinSchedule, FlowSession, Person, PersonStatus, SessionStatus
from storage.repo import audit

log = logging.getLogger(__name__)

CATCH_UP_GRACE = timedelta(hours=3)


@dataclass(slots=True)
class TickReport:
    started: int = 0
    skipped: int = 0
    missed: int = 0
    reminded: int = 0
    expired: int = 0

    def total(self) -> int:
        return self.started + self.skipped + self.missed + self.reminded + self.expired


async def tick(app: App, now: datetime | None = None, batch: int = 200) -> TickReport:
    """Run one tick at `now` (default: the app clock)."""
    now = now or app.clock.now()
    report = TickReport()
    while await _due_checkins(app, now, batch, report):
        pass
    while await _reminders(app, now, batch, report):
        pass
    while await _expiries(app, now, batch, report):
        pass
    if report.total():
        app.sender.wake()
    return report


async def _due_checkins(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    async with app.db.transaction() as s:
        query = (
            select(CheckinSchedule)
            .where(
                col(CheckinSchedule.next_due_at) <= now,
                col(CheckinSchedule.paused).is_(False),
            )
            .order_by(col(CheckinSchedule.next_due_at))
            .limit(batch)
        )
        if not app.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        schedules = (await s.scalars(query)).all()
        for schedule in schedules:
            person = await s.get(Person, schedule.person_id)
            assert person is not None and schedule.next_due_at is not None
            due = schedule.next_due_at
            schedule.next_due_at = next_due(
                max(now, due), person.timezone, schedule.local_time, schedule.days
            )
            if person.status != PersonStatus.ACTIVE:
                report.skipped += 1
                continue
            if now - due > CATCH_UP_GRACE:
                report.missed += 1
                audit(s, now, "scheduler", "checkin.missed_downtime", person.id, due=due.isoformat())
                continue
            started = await start_checkin(
                s,
                app.content,
                person,
                schedule.flow_id,
                now,
                app.buttons,
                local_date=local_date(due, person.timezone),
                actor="scheduler",
            )
            if started is None:
                report.skipped += 1
            else:
                report.started += 1
        return len(schedules) == batch


async def _reminders(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    async with app.db.transaction() as s:
        query = (
            select(FlowSession)
            .where(col(FlowSession.status) == SessionStatus.ACTIVE, col(FlowSession.remind_at) <= now)
            .order_by(col(FlowSession.remind_at))
            .limit(batch)
        )
        if not app.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        sessions = (await s.scalars(query)).all()
        for session in sessions:
            await remind(s, app.content, session, now, app.buttons)
            report.reminded += 1
        return len(sessions) == batch


async def _expiries(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    async with app.db.transaction() as s:
        query = (
            select(FlowSession)
            .where(col(FlowSession.status) == SessionStatus.ACTIVE, col(FlowSession.expires_at) <= now)
            .order_by(col(FlowSession.expires_at))
            .limit(batch)
        )
        if not app.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        sessions = (await s.scalars(query)).all()
        for session in sessions:
            await expire(s, app.content, session, now, app.buttons)
            report.expired += 1
        return len(sessions) == batch
