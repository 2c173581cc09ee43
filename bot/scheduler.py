"""The scheduler tick: claims due work from the database. APScheduler only decides *when* to tick.

Due work: escalation timers of alerts (first: they are the most urgent), check-ins whose next due time
has come, reminders, and expiries. Each is claimed and acted on
in a bounded batch inside one transaction, so a crash redoes at most one batch and never sends twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.app import App
from bot.checkins import expire, remind, start_checkin
from bot.escalation import Escalation
from bot.schedule import in_quiet_hours, local_date, next_due, quiet_hours_end
from storage.models import (
    Alert,
    AlertStatus,
    CheckinSchedule,
    FlowSession,
    Person,
    PersonStatus,
    SessionStatus,
)
from storage.repo import audit

log = logging.getLogger(__name__)


@dataclass(slots=True)
class TickReport:
    started: int = 0
    skipped: int = 0
    missed: int = 0
    reminded: int = 0
    expired: int = 0
    escalated: int = 0  # alert timers fired: pages, repeats, reminders, digests
    deferred: int = 0  # due inside quiet hours: moved to the end of the quiet window

    def total(self) -> int:
        return self.started + self.skipped + self.missed + self.reminded + self.expired + self.escalated


async def tick(app: App, now: datetime | None = None, batch: int = 200) -> TickReport:
    """Run one tick at `now` (default: the app clock)."""
    now = now or app.clock.now()
    report = TickReport()
    while await _escalations(app, now, batch, report):
        pass
    while await _due_checkins(app, now, batch, report):
        pass
    while await _reminders(app, now, batch, report):
        pass
    while await _expiries(app, now, batch, report):
        pass
    if report.total():
        app.sender.wake(urgent=report.escalated > 0)
    return report


async def _escalations(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    escalation = Escalation(app.content, app.buttons)
    async with app.db.transaction(urgent=True) as s:
        query = (
            select(Alert)
            .where(
                col(Alert.next_escalation_at) <= now,
                col(Alert.status).in_([AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]),
            )
            .order_by(col(Alert.next_escalation_at), col(Alert.id))
            .limit(batch)
        )
        if not app.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        alerts = (await s.scalars(query)).all()
        policy = app.content.escalation
        digest = [
            a for a in alerts if a.status == AlertStatus.OPEN and policy.for_severity(a.severity).digest
        ]
        if digest:  # one digest message per recipient, however many alerts are due
            await escalation.digest(s, digest, now)
        digested = {a.id for a in digest}
        for alert in alerts:
            if alert.id not in digested:
                await escalation.fire(s, alert, now)
        report.escalated += len(alerts)
        return len(alerts) == batch


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
        quiet = app.settings.quiet_window
        grace = timedelta(minutes=app.settings.catch_up_grace_minutes)
        for schedule in schedules:
            person = await s.get(Person, schedule.person_id)
            assert person is not None and schedule.next_due_at is not None
            due = schedule.next_due_at
            if quiet is not None and in_quiet_hours(now, person.timezone, quiet):
                # Nothing scheduled goes out at night: the check-in waits for the morning.
                schedule.next_due_at = quiet_hours_end(now, person.timezone, quiet)
                report.deferred += 1
                continue
            schedule.next_due_at = next_due(
                max(now, due), person.timezone, schedule.local_time, schedule.days
            )
            if person.status != PersonStatus.ACTIVE:
                report.skipped += 1
                continue
            if now - due > grace:
                report.missed += 1
                audit(s, now, "scheduler", "checkin.missed_downtime", person.id, due=due.isoformat())
                continue
            day = local_date(due, person.timezone)
            if await _already_sent(s, person.id, schedule.flow_id, day):
                # a time-zone or time change moved today's occurrence: once a day, never twice
                report.skipped += 1
                continue
            started = await start_checkin(
                s,
                app.content,
                person,
                schedule.flow_id,
                now,
                app.buttons,
                local_date=day,
                actor="scheduler",
            )
            if started is None:
                report.skipped += 1
            else:
                report.started += 1
        return len(schedules) == batch


async def _already_sent(s: AsyncSession, person_id: int | None, flow_id: str, day: str) -> bool:
    found = await s.scalar(
        select(FlowSession.id).where(
            FlowSession.person_id == person_id, FlowSession.flow_id == flow_id, FlowSession.local_date == day
        )
    )
    return found is not None


async def _reminders(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    async with app.db.transaction() as s:
        query = (
            select(FlowSession)
            .where(
                col(FlowSession.status) == SessionStatus.ACTIVE,
                col(FlowSession.remind_at) <= now,
                # a reminder for a check-in that has already run out would only confuse
                or_(col(FlowSession.expires_at).is_(None), col(FlowSession.expires_at) > now),
            )
            .order_by(col(FlowSession.remind_at))
            .limit(batch)
        )
        if not app.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        sessions = (await s.scalars(query)).all()
        quiet = app.settings.quiet_window
        for session in sessions:
            person = await s.get(Person, session.person_id)
            assert person is not None
            if quiet is not None and in_quiet_hours(now, person.timezone, quiet):
                session.remind_at = None  # a reminder that would land at night is dropped, not delayed
                audit(s, now, "scheduler", "checkin.reminder_dropped", person.id, session_id=session.id)
                continue
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
