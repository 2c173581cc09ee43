"""Applying a finished onboarding flow to the person: consent, check-in time and language."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from bot.local_time import next_due
from flows.engine import AnswerValue
from storage.models import AuditAction, ChannelIdentity, CheckinSchedule, Person
from storage.repo import audit

ONBOARDING = "onboarding"


async def apply_onboarding(
    s: AsyncSession,
    person: Person,
    identity: ChannelIdentity,
    answers: Mapping[str, AnswerValue],
    now: datetime,
) -> None:
    assert person.id is not None
    schedules = (await s.scalars(select(CheckinSchedule).where(CheckinSchedule.person_id == person.id))).all()
    consent = answers.get("consent")
    if consent is True:
        identity.consent_at = now
        for schedule in schedules:
            schedule.paused = False
    elif consent is False:
        for schedule in schedules:  # they said no to check-ins; replies to them still work
            schedule.paused = True
    language = answers.get("language")
    if isinstance(language, str) and language in ("en", "es"):
        person.locale = language
    time = answers.get("checkin_time")
    if isinstance(time, str):
        for schedule in schedules:
            schedule.local_time = time
            schedule.next_due_at = next_due(now, person.timezone, time, schedule.days)
    audit(
        s,
        now,
        f"person:{person.id}",
        AuditAction.ONBOARDING_APPLIED,
        person.id,
        consent=consent,
        language=language,
        checkin_time=time,
    )
