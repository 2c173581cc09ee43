"""Asking the PIR for consent over their own channel, recording their answer, and ending consents.

Each function changes the rows and queues the messages of one decision in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.channels.base import Button
from bot.content import Messages
from bot.errors import UserError
from bot.family.consent import CONSENT_PAYLOAD, Answer, record, signature
from bot.local_time import local_date
from bot.outbox.queue import queue_message
from storage.models import AuditAction, ConsentState, FamilyLink, MessageKind, Person, Role, ShareScope
from storage.repo import audit, reachable_identity

FIRST_STATUS_AFTER = timedelta(days=6)  # the first weekly summary: within seven days of consent


def first_name(person: Person) -> str:
    return person.name.split()[0] if person.name.split() else person.name


def what_text(messages: Messages, scope: str, locale: str) -> str:
    return messages.text(f"consent_what_{ShareScope(scope)}", locale)


def until_text(messages: Messages, link: FamilyLink, pir: Person) -> str:
    if link.expires_at is not None:
        return messages.text("consent_until_date", pir.locale, date=local_date(link.expires_at, pir.timezone))
    key = "consent_until_discharge" if link.expires_on_discharge else "consent_until_revoked"
    return messages.text(key, pir.locale)


async def request_consent(
    s: AsyncSession,
    messages: Messages,
    now: datetime,
    *,
    family: Person,
    pir: Person,
    share: ShareScope,
    program: str,
    answer_within: timedelta,
    expires_at: datetime | None = None,
    on_discharge: bool = False,
    purpose: str = "family support",
    actor: str = "cli",
    recorded_by: str | None = None,
    buttons: Mapping[str, bool] | None = None,
) -> FamilyLink:
    """A new consent for this pair: asked of the PIR (pending), or, with `recorded_by`, a paper consent
    recorded by staff (active at once). An older active consent stays in force until this one is agreed."""
    fam, pir_p = family, pir
    for person, role in ((fam, Role.FAMILY), (pir_p, Role.PIR)):
        if person.role != role:
            raise UserError(f"{person.name} (id {person.id}) is a {person.role}, not a {role}")
    assert fam.id is not None and pir_p.id is not None
    if expires_at is not None and expires_at <= now:
        raise UserError(f"--expires {expires_at:%Y-%m-%d} is already past: give a later date")
    if expires_at is not None and on_discharge:
        raise UserError("give --expires DATE or --expires-on-discharge, not both")
    identity = await reachable_identity(s, pir_p.id)
    if recorded_by is None and identity is None:
        raise UserError(
            f"{pir_p.name} cannot be reached on any channel: record a paper consent with --on-paper"
        )
    for pending in await _of_pair(s, fam.id, pir_p.id, ConsentState.PENDING):
        pending.state, pending.revoked_at = ConsentState.REPLACED, now  # asked again: only the newest counts
    link = FamilyLink(
        family_id=fam.id,
        pir_id=pir_p.id,
        scope=share,
        purpose=purpose,
        consent=record(
            patient=pir_p.name,
            recipient=fam.name,
            scope=share,
            purpose=purpose,
            expires_at=expires_at,
            on_discharge=on_discharge,
            requested_by=actor,
            now=now,
        ),
        state=ConsentState.PENDING,
        requested_at=now,
        answer_by=now + answer_within,
        expires_at=expires_at,
        expires_on_discharge=on_discharge,
    )
    s.add(link)
    await s.flush()
    audit(
        s, now, actor, AuditAction.CONSENT_REQUESTED, pir_p.id, family=fam.id, scope=str(share), link=link.id
    )
    if recorded_by is not None:
        link.consent = link.consent | {
            "signature": signature(message_id=None, channel="paper", at=now, text="", recorded_by=recorded_by)
        }
        await _activate(s, link, now, actor)
        return link
    assert identity is not None
    text = messages.text(
        "consent_request",
        pir_p.locale,
        family=fam.name,
        program=program,
        what=what_text(messages, share, pir_p.locale),
        purpose=purpose,
        until=until_text(messages, link, pir_p),
        first=first_name(fam),
    )
    keyboard: Sequence[Sequence[Button]] = ()
    if buttons is not None and buttons.get(identity.channel, False):
        yes, no = ("Sí", "No") if pir_p.locale == "es" else ("Yes", "No")
        keyboard = [
            [Button(yes, f"{CONSENT_PAYLOAD}yes:{link.id}"), Button(no, f"{CONSENT_PAYLOAD}no:{link.id}")]
        ]
    queue_message(s, identity, text, MessageKind.SYSTEM, now, keyboard)
    return link


async def _of_pair(s: AsyncSession, family_id: int, pir_id: int, state: ConsentState) -> Sequence[FamilyLink]:
    return (
        await s.scalars(
            select(FamilyLink).where(
                col(FamilyLink.family_id) == family_id,
                col(FamilyLink.pir_id) == pir_id,
                col(FamilyLink.state) == state,
            )
        )
    ).all()


async def _activate(s: AsyncSession, link: FamilyLink, now: datetime, actor: str) -> None:
    for old in await _of_pair(s, link.family_id, link.pir_id, ConsentState.ACTIVE):
        if old.id != link.id:  # the new consent replaces the old one; its record stays
            old.state, old.revoked_at, old.next_status_at = ConsentState.REPLACED, now, None
    link.state, link.granted_at, link.answer_by = ConsentState.ACTIVE, now, None
    link.next_status_at = now + FIRST_STATUS_AFTER if link.scope != ShareScope.NONE else None
    audit(
        s,
        now,
        actor,
        AuditAction.FAMILY_LINKED,
        link.pir_id,
        family=link.family_id,
        scope=link.scope,
        link=link.id,
    )


async def links_of_pir(s: AsyncSession, pir_id: int) -> Sequence[FamilyLink]:
    """Every consent request and consent about this PIR, oldest first."""
    return (
        await s.scalars(
            select(FamilyLink).where(col(FamilyLink.pir_id) == pir_id).order_by(col(FamilyLink.id))
        )
    ).all()


async def pending_request(s: AsyncSession, pir_id: int, now: datetime) -> FamilyLink | None:
    """The newest consent request still waiting for this PIR's answer."""
    return (
        await s.scalars(
            select(FamilyLink)
            .where(
                col(FamilyLink.pir_id) == pir_id,
                col(FamilyLink.state) == ConsentState.PENDING,
                col(FamilyLink.answer_by) > now,
            )
            .order_by(col(FamilyLink.id).desc())
        )
    ).first()


async def answer_request(
    s: AsyncSession,
    messages: Messages,
    link: FamilyLink,
    answer: Answer,
    now: datetime,
    *,
    message_id: int | None,
    channel: str,
    text: str,
) -> str:
    """Record the PIR's YES (their reply is the signature) or NO; returns the reply to the PIR."""
    pir, fam = await s.get(Person, link.pir_id), await s.get(Person, link.family_id)
    assert pir is not None and fam is not None
    actor = f"person:{pir.id}"
    audit(s, now, actor, AuditAction.CONSENT_ANSWERED, pir.id, link=link.id, answer=str(answer))
    if answer is Answer.NO:
        link.state, link.revoked_at, link.answer_by = ConsentState.DECLINED, now, None
        await tell_family(s, messages, fam, pir, "consent_family_not_now", now)
        return messages.text("consent_no", pir.locale, family=fam.name)
    link.consent = link.consent | {
        "signature": signature(message_id=message_id, channel=channel, at=now, text=text)
    }
    await _activate(s, link, now, actor)
    return messages.text(
        "consent_yes",
        pir.locale,
        family=fam.name,
        what=what_text(messages, link.scope, pir.locale),
        until=until_text(messages, link, pir),
        first=first_name(fam),
    )


async def tell_family(
    s: AsyncSession, messages: Messages, fam: Person, pir: Person, key: str, now: datetime
) -> None:
    """A short, kind word to the family member that says no more than `key` does."""
    assert fam.id is not None
    identity = await reachable_identity(s, fam.id)
    if identity is not None:
        queue_message(
            s, identity, messages.text(key, fam.locale, pir=first_name(pir)), MessageKind.SYSTEM, now
        )


async def end_consent(
    s: AsyncSession, messages: Messages, link: FamilyLink, state: ConsentState, now: datetime, actor: str
) -> None:
    """End an active consent (revoked, expired, ended by discharge); the family member is told updates
    stopped (for a consent that shared nothing there is nothing to stop: they hear nothing)."""
    pir, fam = await s.get(Person, link.pir_id), await s.get(Person, link.family_id)
    assert pir is not None and fam is not None
    was = link.scope
    link.state, link.revoked_at, link.next_status_at = state, now, None
    action = AuditAction.CONSENT_REVOKED if state is ConsentState.REVOKED else AuditAction.CONSENT_ENDED
    audit(s, now, actor, action, pir.id, link=link.id, family=fam.id, state=str(state))
    if was != ShareScope.NONE:
        await tell_family(s, messages, fam, pir, "consent_updates_stopped", now)


async def lapse(s: AsyncSession, messages: Messages, link: FamilyLink, now: datetime) -> None:
    """No answer in time: the request lapses, the family member is told kindly, without details."""
    pir, fam = await s.get(Person, link.pir_id), await s.get(Person, link.family_id)
    assert pir is not None and fam is not None
    link.state, link.revoked_at, link.answer_by = ConsentState.LAPSED, now, None
    audit(
        s, now, "scheduler", AuditAction.CONSENT_ENDED, pir.id, link=link.id, state=str(ConsentState.LAPSED)
    )
    await tell_family(s, messages, fam, pir, "consent_family_not_now", now)
