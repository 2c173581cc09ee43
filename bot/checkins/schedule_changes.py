"""Changing when a person's check-ins come: time, days, time zone, pause."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.content import Content, ContentError
from bot.local_time import ALL_DAYS, DEFAULT_QUIET, QuietHours, is_quiet_time, next_due, parse_days
from bot.people.enrolment import FLOW_FOR_ROLE, UserError, check_checkin_time, check_timezone, resolve
from storage.models import AuditAction, CheckinSchedule, Role
from storage.repo import audit

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


async def update_schedule(
    s: AsyncSession,
    now: datetime,
    who: str,
    *,
    time: str | None = None,
    days: str | None = None,
    timezone: str | None = None,
    paused: bool | None = None,
    flow: str | None = None,
    quiet: QuietHours | None = DEFAULT_QUIET,
    actor: str = "cli",
) -> CheckinSchedule:
    """Apply the changes from the next occurrence on; today's check-in, if already sent, is not repeated.

    A time inside the `quiet` hours is refused (UserError saying why and how to change them).
    """
    person = await resolve(s, who)
    flow_id = flow or FLOW_FOR_ROLE.get(Role(person.role))
    if flow_id is None:
        raise UserError(f"{person.name} is a {person.role} and has no check-in schedule")
    schedule = (
        await s.scalars(
            select(CheckinSchedule).where(
                CheckinSchedule.person_id == person.id, CheckinSchedule.flow_id == flow_id
            )
        )
    ).first()
    if schedule is None:
        assert person.id is not None
        schedule = CheckinSchedule(person_id=person.id, flow_id=flow_id)
        s.add(schedule)
    if timezone is not None:
        person.timezone = check_timezone(timezone)
    if time is not None:
        schedule.local_time = check_checkin_time(time, quiet)
    if days is not None:
        try:
            wanted = parse_days(days)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        if not wanted:
            raise UserError("give at least one day, e.g. mon,wed,fri")
        schedule.days = ",".join(day for number, day in enumerate(ALL_DAYS) if number in wanted)
    if paused is not None:
        schedule.paused = paused
    schedule.next_due_at = next_due(now, person.timezone, schedule.local_time, schedule.days)
    audit(
        s,
        now,
        actor,
        AuditAction.SCHEDULE_UPDATED,
        person.id,
        flow=flow_id,
        time=schedule.local_time,
        days=schedule.days,
        timezone=person.timezone,
        paused=schedule.paused,
    )
    return schedule


def check_offered_times(content: Content, quiet: QuietHours | None, flows_dir: Path) -> None:
    """Refuse to start when a flow lets people choose a check-in time inside quiet hours (the onboarding
    step `checkin_time`): the chosen time would never be kept, only held to the morning."""
    if quiet is None:
        return
    for flow in content.flows.values():
        if not flow.has_step("checkin_time"):
            continue
        times = [c.value for c in flow.step("checkin_time").choices if _HHMM.fullmatch(c.value)]
        inside = [t for t in times if is_quiet_time(t, quiet)]
        if inside:
            raise ContentError(
                f"{flows_dir / (flow.id + '.yaml')}: checkin_time offers {', '.join(inside)}, inside "
                f"quiet hours ({quiet[0]}-{quiet[1]}): offer times outside them, or change "
                "PEERLINE_QUIET_HOURS"
            )
