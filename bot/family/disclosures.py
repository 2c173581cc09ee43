"""Disclosures to family members under a live consent: the weekly status and the alert notice.

Each carries the Part 2 notice and is recorded in `Disclosure` (who, what, when, under which consent)
in the transaction that queues it. The scheduler's part (weekly summaries, consents that end by
themselves, requests nobody answered) is `due_work`, called from the tick with its claim helper.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.content import Messages
from bot.family.consent import PART2_NOTICE_KEY, ending, live, shares_alerts, shares_status, with_notice
from bot.family.requests import end_consent, first_name, lapse
from bot.local_time import QuietHours, in_quiet_hours, local_date, quiet_hours_end
from bot.outbox.queue import queue_message
from storage.models import (
    Answer,
    AuditAction,
    ConsentState,
    Disclosure,
    FamilyLink,
    MessageKind,
    Person,
    PersonStatus,
    ShareScope,
)
from storage.repo import audit, reachable_identity

WEEK = timedelta(days=7)
T = TypeVar("T")
Claim = Callable[[AsyncSession, SelectOfScalar[T]], Awaitable[Sequence[T]]]


async def disclose(
    s: AsyncSession,
    messages: Messages,
    link: FamilyLink,
    fam: Person,
    kind: str,
    text: str,
    what: str,
    now: datetime,
) -> bool:
    """Send `text` with the Part 2 notice to the family member and account for it; False if unreachable."""
    assert fam.id is not None and link.id is not None
    identity = await reachable_identity(s, fam.id)
    if identity is None:
        return False
    body = with_notice(text, messages.text(PART2_NOTICE_KEY, fam.locale))
    if queue_message(s, identity, body, MessageKind.SYSTEM, now) is None:
        return False
    s.add(
        Disclosure(
            pir_id=link.pir_id,
            recipient_id=fam.id,
            link_id=link.id,
            kind=kind,
            what=what,
            channel=identity.channel,
            disclosed_at=now,
        )
    )
    audit(s, now, "system", AuditAction.DISCLOSURE_MADE, link.pir_id, family=fam.id, link=link.id, kind=kind)
    return True


async def days_checked_in(s: AsyncSession, pir: Person, now: datetime) -> int:
    """On how many of the last seven local days the PIR answered a check-in."""
    since = now - WEEK
    times = (
        await s.scalars(
            select(func.min(Answer.answered_at))
            .where(
                col(Answer.person_id) == pir.id,
                col(Answer.answered_at) > since,
                col(Answer.answered_at) <= now,
            )
            .group_by(col(Answer.session_id))
        )
    ).all()
    return len({local_date(t, pir.timezone) for t in times})


async def notify_alert(
    s: AsyncSession, messages: Messages, pir: Person, raised_by_id: int, now: datetime
) -> int:
    """An alert about `pir` was raised and a person told: family with an `alerts` consent hear that the
    peer has been told and is reaching out (never what it is about), with support for themselves."""
    links = (
        await s.scalars(
            select(FamilyLink).where(
                col(FamilyLink.pir_id) == pir.id,
                col(FamilyLink.state) == ConsentState.ACTIVE,
                col(FamilyLink.scope) == ShareScope.ALERTS,
                col(FamilyLink.family_id) != raised_by_id,  # who raised it knows already
            )
        )
    ).all()
    sent = 0
    for link in links:
        fam = await s.get(Person, link.family_id)
        if fam is None or not live(link, pir.status, now) or not shares_alerts(link.scope):
            continue
        text = messages.text("family_alert_notice", fam.locale, pir=first_name(pir))
        what = "alert notice: the peer specialist was told and is reaching out"
        sent += await disclose(s, messages, link, fam, "alert_notice", text, what, now)
    return sent


async def due_work(
    s: AsyncSession,
    messages: Messages,
    claim: Claim[FamilyLink],
    now: datetime,
    quiet: QuietHours | None,
    batch: int,
) -> tuple[int, bool]:
    """One batch of the scheduler's consent work; returns (done, whether a full batch was claimed)."""
    query = (
        select(FamilyLink)
        .join(Person, col(Person.id) == col(FamilyLink.pir_id))
        .where(
            or_(
                (col(FamilyLink.state) == ConsentState.PENDING) & (col(FamilyLink.answer_by) <= now),
                (col(FamilyLink.state) == ConsentState.ACTIVE)
                & or_(
                    col(FamilyLink.next_status_at) <= now,
                    col(FamilyLink.expires_at) <= now,
                    col(Person.status) == PersonStatus.DISCHARGED,
                ),
            )
        )
        .order_by(col(FamilyLink.id))
        .limit(batch)
    )
    links = await claim(s, query)
    for link in links:
        pir = await s.get(Person, link.pir_id)
        assert pir is not None
        if link.state == ConsentState.PENDING:
            await lapse(s, messages, link, now)
            continue
        ended = ending(link, pir.status, now)
        if ended is not None:
            await end_consent(s, messages, link, ended, now, "scheduler")
            continue
        await _weekly(s, messages, link, pir, now, quiet)
    return len(links), len(links) == batch


async def _weekly(
    s: AsyncSession,
    messages: Messages,
    link: FamilyLink,
    pir: Person,
    now: datetime,
    quiet: QuietHours | None,
) -> None:
    fam = await s.get(Person, link.family_id)
    assert fam is not None and link.next_status_at is not None
    if quiet is not None and in_quiet_hours(now, fam.timezone, quiet):
        link.next_status_at = quiet_hours_end(now, fam.timezone, quiet)  # held to the morning
        return
    while link.next_status_at <= now:
        link.next_status_at += WEEK
    if not shares_status(link.scope) or not live(link, pir.status, now):
        return
    days = await days_checked_in(s, pir, now)
    text = messages.text("family_weekly_status", fam.locale, pir=first_name(pir), days=days)
    what = f"weekly status: checked in {days} of 7 days"
    await disclose(s, messages, link, fam, "weekly_status", text, what, now)
