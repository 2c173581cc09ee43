"""The scheduler tick: claims due work from the database. APScheduler only decides *when* to tick.

Due work: escalation timers of alerts (first: they are the most urgent), check-ins whose next due time
has come, reminders, expiries, and family consents (requests nobody answered, consents that end by
date or discharge, weekly status summaries; `bot.family.disclosures`). Each is claimed and acted on
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
from bot.checkins.starting import account, plan_due, start_due
from bot.family.disclosures import due_work
from bot.local_time import in_quiet_hours
from bot.ops.instruments import TICK
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    CheckinSchedule,
    FamilyLink,
    FlowSession,
    Person,
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
    consents: int = 0  # family consents: lapsed, ended, weekly summaries (or held to the morning)

    def total(self) -> int:
        return (
            self.started
            + self.skipped
            + self.missed
            + self.reminded
            + self.expired
            + self.escalated
            + self.consents
        )


T = TypeVar("T")


async def _claim(s: AsyncSession, app: App, query: SelectOfScalar[T]) -> Sequence[T]:
    """The rows of a due-work query, claimed: on PostgreSQL locked and skipped by other processes'
    ticks (`FOR UPDATE SKIP LOCKED`); SQLite has one writer at a time, so its transaction is the claim."""
    if not app.db.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return (await s.scalars(query)).all()


async def tick(
    app: App, now: datetime | None = None, batch: int = 200, *, set_based: bool = True
) -> TickReport:
    """Run one tick at `now` (default: the app clock). `set_based=False` starts due check-ins one by one,
    the reference the set-based path (`bot.checkins.starting`) is measured against."""
    now = now or app.clock.now()
    with TICK.time():
        report = await _tick(app, now, batch, set_based=set_based)
    if report.total():
        app.sender.wake(urgent=report.escalated > 0)
    return report


async def _tick(app: App, now: datetime, batch: int, *, set_based: bool) -> TickReport:
    report = TickReport()
    while await _escalations(app, now, batch, report):
        pass
    while await _due_checkins(app, now, batch, report, set_based=set_based):
        pass
    while await _reminders(app, now, batch, report):
        pass
    while await _expiries(app, now, batch, report):
        pass
    while await _consents(app, now, batch, report):
        pass
    return report


async def _consents(app: App, now: datetime, batch: int, report: TickReport) -> bool:
    async with app.db.transaction() as s:

        async def claim(s: AsyncSession, query: SelectOfScalar[FamilyLink]) -> Sequence[FamilyLink]:
            return await _claim(s, app, query)

        done, more = await due_work(s, app.content.messages, claim, now, app.settings.quiet_window, batch)
    report.consents += done
    return more


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


async def _due_checkins(
    app: App, now: datetime, batch: int, report: TickReport, *, set_based: bool = True
) -> bool:
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
        if set_based:
            await start_due(app, s, schedules, now, report)
            return len(schedules) == batch
        for schedule in schedules:
            person = await s.get(Person, schedule.person_id)
            assert person is not None
            await _due_checkin(app, s, schedule, person, now, report)
        return len(schedules) == batch


async def _due_checkin(
    app: App, s: AsyncSession, schedule: CheckinSchedule, person: Person, now: datetime, report: TickReport
) -> None:
    """The per-check-in reference for `start_due`: decide one due schedule (`plan_due`) and start its
    check-in on its own (`start_checkin`), a few queries and a flush each. Kept to measure the set-based
    path against (`bench.scheduler`): `tick(..., set_based=False)`."""
    grace = timedelta(minutes=app.settings.catch_up_grace_minutes)
    plan = plan_due(schedule, person, now, app.settings.quiet_window, grace)
    schedule.next_due_at = plan.next_due_at
    if not account(s, now, person.id, plan, report):
        return
    day = plan.day
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
