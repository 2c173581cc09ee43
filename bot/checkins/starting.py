"""Due check-ins started set-based: a claimed batch of schedules becomes its sessions, messages and outbox
rows with a handful of queries and bulk inserts, as inbound messages already are.

What each due schedule stands for is decided in pure code (`plan_due`); the batch's people, identities,
open sessions and today's sessions are read with one query each; the new sessions are written with one
multi-row INSERT, and their messages, outbox rows and audit events go through `storage.appends`. The
result is the same, row for row and in the same order, as starting each check-in on its own
(`bot.checkins.sessions.start_checkin`), which the tick keeps as its per-check-in reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from bot.checkins.sessions import WrongAudienceError, flow_for, queue_outputs
from bot.local_time import QuietHours, in_quiet_hours, last_due, local_date, next_due, quiet_hours_end
from flows import engine
from storage.models import (
    AuditAction,
    ChannelIdentity,
    CheckinSchedule,
    FlowSession,
    MessageKind,
    Person,
    PersonStatus,
    SessionStatus,
)
from storage.repo import audit, pick_identity

if TYPE_CHECKING:
    from bot.app import App
    from bot.checkins.tick import TickReport

Outcome = Literal["inactive", "late", "deferred", "send"]


@dataclass(frozen=True, slots=True)
class DuePlan:
    """What one due schedule stands for at `now`: its next due time, the occurrences missed while the
    bot was down (`missed`, the oldest at `oldest`), and whether the newest is sent, held or late."""

    next_due_at: datetime
    outcome: Outcome
    missed: int = 0
    oldest: datetime | None = None
    day: str = ""  # the local date of the occurrence sent


def plan_due(
    schedule: CheckinSchedule,
    person: Person,
    now: datetime,
    quiet: QuietHours | None,
    grace: timedelta,
) -> DuePlan:
    """Decide a due schedule; the plan's `next_due_at` is always later than `now`, so a batch never
    claims the same row twice.

    `next_due_at` is always an occurrence of the schedule, or the end of the quiet hours holding one: the
    occurrence it stands for is the last one at or before it. Of several due (a worker down for days) only
    the newest may still start; the others are missed. A check-in goes out at its time or, when that is
    inside quiet hours, at their end; not sent within the catch-up grace of that moment, it is missed.
    """
    assert schedule.next_due_at is not None
    zone, hhmm, days = person.timezone, schedule.local_time, schedule.days
    due = last_due(schedule.next_due_at, zone, hhmm, days)
    newest = last_due(now, zone, hhmm, days)
    following = next_due(newest, zone, hhmm, days)
    if person.status != PersonStatus.ACTIVE:
        return DuePlan(following, "inactive")
    oldest, superseded = due, 0
    while due < newest:
        superseded += 1
        due = next_due(due, zone, hhmm, days)
    held, earliest = _outside_quiet_hours(due, zone, quiet), _outside_quiet_hours(now, zone, quiet)
    send_at = max(held, earliest)
    late = send_at - held > grace
    missed = superseded + int(late)
    if late:
        return DuePlan(following, "late", missed, oldest)
    if send_at > now:  # nothing scheduled goes out in quiet hours: held to their end
        return DuePlan(send_at, "deferred", missed, oldest)
    return DuePlan(following, "send", missed, oldest, local_date(due, zone))


def _outside_quiet_hours(instant: datetime, zone: str, quiet: QuietHours | None) -> datetime:
    """`instant`, or the end of the quiet hours it falls in."""
    if quiet is None or not in_quiet_hours(instant, zone, quiet):
        return instant
    return quiet_hours_end(instant, zone, quiet)


@dataclass(slots=True)
class _Start:
    """One check-in of the batch to start: its session row (written in bulk) and what it closes."""

    person: Person
    identity: ChannelIdentity
    flow_id: str
    outputs: tuple[engine.Say | engine.Question, ...]
    row: dict[str, Any]
    abandons: FlowSession | _Start | None
    id: int | None = None


@dataclass(slots=True)
class _Step:
    """One schedule's part of the batch, in claim order: its missed audit and what came of it."""

    schedule: CheckinSchedule
    person: Person
    plan: DuePlan
    result: Literal["skipped", "wrong_audience", "unreachable", "started"] = "skipped"
    reason: str = ""
    start: _Start | None = None


async def start_due(
    app: App, s: AsyncSession, schedules: Sequence[CheckinSchedule], now: datetime, report: TickReport
) -> None:
    """Start, hold or record as missed the check-ins a claimed batch of schedules stands for."""
    if not schedules:
        return
    quiet = app.settings.quiet_window
    grace = timedelta(minutes=app.settings.catch_up_grace_minutes)
    person_ids = {schedule.person_id for schedule in schedules}
    people = {p.id: p for p in (await s.scalars(select(Person).where(col(Person.id).in_(person_ids)))).all()}
    steps: list[_Step] = []
    for schedule in schedules:
        person = people[schedule.person_id]
        plan = plan_due(schedule, person, now, quiet, grace)
        schedule.next_due_at = plan.next_due_at
        steps.append(_Step(schedule, person, plan))
    sending = [step for step in steps if step.plan.outcome == "send"]
    sent = await _sessions_on(s, sending)
    wanted: list[_Step] = []
    for step in sending:
        if (step.person.id, step.schedule.flow_id, step.plan.day) in sent:
            continue  # a time-zone or time change moved today's occurrence: once a day, never twice
        try:
            flow_for(app.content, step.person, step.schedule.flow_id)
        except WrongAudienceError as exc:
            step.result, step.reason = "wrong_audience", str(exc)
            continue
        wanted.append(step)
    ids = {step.person.id for step in wanted}
    reachable = await _reachable(s, ids)
    active = await _active_sessions(s, {pid for pid in ids if pid in reachable})
    latest: dict[int, FlowSession | _Start] = dict(active)
    starts: list[_Start] = []
    for step in wanted:
        person, flow_id = step.person, step.schedule.flow_id
        assert person.id is not None
        identity = reachable.get(person.id)
        if identity is None:
            step.result = "unreachable"
            continue
        flow = app.content.flow(flow_id)
        sprint = engine.start(flow, person.locale)
        previous = latest.get(person.id)
        start = _Start(
            person,
            identity,
            flow_id,
            sprint.outputs,
            {
                "person_id": person.id,
                "flow_id": flow_id,
                "locale": person.locale,
                "channel": identity.channel,
                "state": sprint.state.to_json(),
                "status": SessionStatus.ACTIVE,
                "local_date": step.plan.day,
                "started_at": now,
                "updated_at": now,
                "remind_at": now + flow.reminder_after,
                "expires_at": now + flow.expires_after,
            },
            previous,
        )
        if isinstance(previous, _Start):  # two flows of one person due in one batch: the newer counts
            previous.row["status"] = SessionStatus.ABANDONED
        elif previous is not None:
            previous.status = SessionStatus.ABANDONED
            previous.updated_at = now
        latest[person.id] = start
        step.result, step.start = "started", start
        starts.append(start)
    if starts:
        await s.flush()  # the abandoned sessions' status first, as starting one by one would
        new_ids = await s.run_sync(lambda sync: _insert_sessions(sync, [st.row for st in starts]))
        for start, new_id in zip(starts, new_ids, strict=True):
            start.id = new_id
    for step in steps:
        await _record(app, s, step, now, report)


def _insert_sessions(sync: Session, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT on the connection (as `storage.appends` writes messages): the ORM's bulk
    path costs more than the rows; the column types still encrypt the state."""
    result = sync.connection().execute(
        insert(FlowSession).returning(col(FlowSession.id), sort_by_parameter_order=True), rows
    )
    return [new_id for new_id in result.scalars() if new_id is not None]


def account(s: AsyncSession, now: datetime, person_id: int | None, plan: DuePlan, report: TickReport) -> bool:
    """Count and audit what a plan says besides starting (skipped, missed while down, deferred to the end
    of quiet hours); True when the check-in is to start now. One place for both paths of the tick."""
    if plan.outcome == "inactive":
        report.skipped += 1
        return False
    if plan.missed:
        report.missed += plan.missed
        assert plan.oldest is not None
        audit(
            s,
            now,
            "scheduler",
            AuditAction.CHECKIN_MISSED_DOWNTIME,
            person_id,
            due=plan.oldest.isoformat(),
            count=plan.missed,
        )
    if plan.outcome == "late":
        return False
    if plan.outcome == "deferred":  # nothing scheduled goes out in quiet hours: held to their end
        report.deferred += 1
        return False
    return True


async def _record(app: App, s: AsyncSession, step: _Step, now: datetime, report: TickReport) -> None:
    """Append one schedule's audit events and messages, in the order starting it alone would."""
    person, plan, flow_id = step.person, step.plan, step.schedule.flow_id
    if not account(s, now, person.id, plan, report):
        return
    if step.result == "wrong_audience":
        audit(
            s,
            now,
            "scheduler",
            AuditAction.CHECKIN_WRONG_AUDIENCE,
            person.id,
            flow=flow_id,
            reason=step.reason,
        )
    elif step.result == "unreachable":
        audit(s, now, "scheduler", AuditAction.CHECKIN_UNREACHABLE, person.id, flow=flow_id)
    if step.start is None:
        report.skipped += 1
        return
    start = step.start
    previous = start.abandons
    if previous is not None:
        audit(
            s,
            now,
            "scheduler",
            AuditAction.CHECKIN_ABANDONED,
            person.id,
            session_id=previous.id,
            flow=previous.flow_id,
        )
    await queue_outputs(s, start.identity, start.outputs, MessageKind.CHECKIN, now, app.buttons)
    audit(s, now, "scheduler", AuditAction.CHECKIN_STARTED, person.id, session_id=start.id, flow=flow_id)
    report.started += 1


async def _sessions_on(s: AsyncSession, steps: Sequence[_Step]) -> set[tuple[int, str, str]]:
    """(person, flow, local date) of the sessions already started for these steps' days."""
    keys = {(step.person.id, step.schedule.flow_id, step.plan.day) for step in steps}
    if not keys:
        return set()
    rows = await s.execute(
        select(col(FlowSession.person_id), col(FlowSession.flow_id), col(FlowSession.local_date)).where(
            col(FlowSession.person_id).in_({key[0] for key in keys}),
            col(FlowSession.local_date).in_({key[2] for key in keys}),
        )
    )
    return {(pid, flow, day or "") for pid, flow, day in rows if (pid, flow, day or "") in keys}


async def _reachable(s: AsyncSession, person_ids: set[int | None]) -> dict[int, ChannelIdentity]:
    """Each person's identity to write to: the first usable one (`storage.repo.reachable_identity`)."""
    if not person_ids:
        return {}
    mine: dict[int, list[ChannelIdentity]] = {}
    rows = await s.scalars(
        select(ChannelIdentity)
        .where(col(ChannelIdentity.person_id).in_(person_ids))
        .order_by(col(ChannelIdentity.id))
    )
    for ident in rows:
        mine.setdefault(ident.person_id, []).append(ident)
    picked = {person_id: pick_identity(identities) for person_id, identities in mine.items()}
    return {person_id: ident for person_id, ident in picked.items() if ident is not None}


async def _active_sessions(s: AsyncSession, person_ids: set[int]) -> dict[int, FlowSession]:
    """Each person's newest open session (`storage.repo.active_session`)."""
    if not person_ids:
        return {}
    found: dict[int, FlowSession] = {}
    rows = await s.scalars(
        select(FlowSession)
        .where(col(FlowSession.person_id).in_(person_ids), col(FlowSession.status) == SessionStatus.ACTIVE)
        .order_by(col(FlowSession.id).desc())
    )
    for session in rows:
        found.setdefault(session.person_id, session)
    return found
