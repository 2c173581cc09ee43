"""The scheduler tick: claims due work from the database. APScheduler only decides *when* to tick.

Due work: escalation timers of alerts (first: they are the most urgent), check-ins whose next due time
has come, reminders, and expiries. Each is claimed and acted on
in a bounded batch inside one transaction, so a crash redoes at most one batch and never sends twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.alerts.lifecycle import Escalation
from bot.checkins.sessions import WrongAudienceError, expire, flow_for, remind, start_checkin
from bot.local_time import (
    QuietHours,
    in_quiet_hours,
    last_due,
    local_date,
    next_due,
    quiet_hours_end,
)
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    CheckinSchedule,
    FlowSession,
    Person,
    PersonStatus,
    SessionStatus,
)
from storage.repo import audit

if TYPE_CHECKING:
    from bot.app import App  # the composition root hands itself in; the tick never imports it

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


T = TypeVar("T")


async def _claim(s: AsyncSession, app: App, query: SelectOfScalar[T]) -> Sequence[T]:
    """The rows of a due-work query, claimed: on PostgreSQL locked and skipped by other processes'
    ticks (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time, so its transaction is the claim."""
    if not app.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return (await s.scalars(query)).all()


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
        alerts = await _claim(s, app, query)
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
        schedules = await _claim(s, app, query)
        for schedule in schedules:
            person = await s.get(Person, schedule.person_id)
            assert person is not None
            await _due_checkin(app, s, schedule, person, now, report)
        return len(schedules) == batch


async def _due_checkin(
    app: App, s: AsyncSession, schedule: CheckinSchedule, person: Person, now: datetime, report: TickReport
) -> None:
    """Start, hold or record as missed the check-in a due schedule stands for; leaves `next_due_at` later
    than `now`, so a batch never claims the same row twice.

    `next_due_at` is always an occurrence of the schedule, or the end of the quiet hours holding one: the
    occurrence it stands for is the last one at or before it. Of several due (a worker down for days) only
    the newest may still start; the others are missed. A check-in goes out at its time or, when that is
    inside quiet hours, at their end; not sent within the catch-up grace of that moment, it is missed.
    """
    assert schedule.next_due_at is not None
    zone, hhmm, days = person.timezone, schedule.local_time, schedule.days
    quiet = app.settings.quiet_window
    grace = timedelta(minutes=app.settings.catch_up_grace_minutes)
    due = last_due(schedule.next_due_at, zone, hhmm, days)
    newest = last_due(now, zone, hhmm, days)
    schedule.next_due_at = next_due(newest, zone, hhmm, days)
    if person.status != PersonStatus.ACTIVE:
        report.skipped += 1
        return
    oldest, superseded = due, 0
    while due < newest:
        superseded += 1
        due = next_due(due, zone, hhmm, days)
    held, earliest = _outside_quiet_hours(due, zone, quiet), _outside_quiet_hours(now, zone, quiet)
    send_at = max(held, earliest)
    late = send_at - held > grace
    if superseded or late:
        count = superseded + int(late)
        report.missed += count
        audit(
            s,
            now,
            "scheduler",
            AuditAction.CHECKIN_MISSED_DOWNTIME,
            person.id,
            due=oldest.isoformat(),
            count=count,
        )
    if late:
        return
    if send_at > now:  # nothing scheduled goes out in quiet hours: held to their end
        schedule.next_due_at = send_at
        report.deferred += 1
        return
    day = local_date(due, zone)
    if await _already_sent(s, person.id, schedule.flow_id, day):
        # a time-zone or time change moved today's occurrence: once a day, never twice
        report.skipped += 1
        return
    try:
        flow_for(app.content, person, schedule.flow_id)
    except WrongAudienceError as exc:
        audit(
            s,
            now,
            "scheduler",
            AuditAction.CHECKIN_WRONG_AUDIENCE,
            person.id,
            flow=schedule.flow_id,
            reason=str(exc),
        )
        report.skipped += 1
        return
    started = await start_checkin(
        s, app.content, person, schedule.flow_id, now, app.buttons, local_date=day, actor="scheduler"
    )
    if started is None:
        report.skipped += 1
    else:
        report.started += 1


def _outside_quiet_hours(instant: datetime, zone: str, quiet: QuietHours | None) -> datetime:
    """`instant`, or the end of the quiet hours it falls in."""
    if quiet is None or not in_quiet_hours(instant, zone, quiet):
        return instant
    return quiet_hours_end(instant, zone, quiet)


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
        sessions = await _claim(s, app, query)
        quiet = app.settings.quiet_window
        for session in sessions:
            person = await s.get(Person, session.person_id)
            assert person is not None
            if quiet is not None and in_quiet_hours(now, person.timezone, quiet):
                session.remind_at = None  # a reminder that would land at night is dropped, not delayed
                audit(
                    s,
                    now,
                    "scheduler",
                    AuditAction.CHECKIN_REMINDER_DROPPED,
                    person.id,
                    session_id=session.id,
                )
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
        sessions = await _claim(s, app, query)
        quiet = app.settings.quiet_window
        for session in sessions:
            person = await s.get(Person, session.person_id)
            assert person is not None
            # The check-in closes as missed at its time; its "we missed you" would land at night, and by
            # the end of quiet hours it is another day and the next check-in is near: it is dropped.
            notify = quiet is None or not in_quiet_hours(now, person.timezone, quiet)
            await expire(s, app.content, session, now, app.buttons, notify=notify)
            if not notify:
                audit(
                    s,
                    now,
                    "scheduler",
                    AuditAction.CHECKIN_EXPIRED_NOTICE_DROPPED,
                    person.id,
                    session_id=session.id,
                )
            report.expired += 1
        return len(sessions) == batch
