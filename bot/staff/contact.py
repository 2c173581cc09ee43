"""Reaching out to a person and recording a contact: what REPLY and NOTE do, whoever asks (a chat
command or the staff console's forms). The caller has already checked the care team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Messages
from bot.local_time import local_date
from bot.outbox.queue import queue_message
from bot.staff.caseload import reply_identity
from storage.models import AuditAction, ContactMethod, ContactNote, MessageKind, Person, Role
from storage.repo import audit

MAX_NOTE_MINUTES = 8 * 60  # one note is one contact; a longer day is several sessions


UNIT_MINUTES = 15  # H0038 is billed in 15-minute units ...


FIRST_UNIT_MINUTES = 8  # ... and a unit counts from more than half of one (the CMS midpoint rule)


_METHODS: dict[str, ContactMethod] = {
    **{m.value: m for m in ContactMethod},
    "sms": ContactMethod.TEXT,
    "txt": ContactMethod.TEXT,
    "call": ContactMethod.PHONE,
    "tel": ContactMethod.PHONE,
    "zoom": ContactMethod.VIDEO,
    "inperson": ContactMethod.IN_PERSON,
    "in-person": ContactMethod.IN_PERSON,
    "person": ContactMethod.IN_PERSON,
    "f2f": ContactMethod.IN_PERSON,
}


def contact_method(word: str) -> ContactMethod | None:
    """A contact method from what staff type (`phone`, `call`, `in-person`, ...), or None."""
    return _METHODS.get(word.casefold())


def units_of(minutes: int) -> int:
    """H0038 units of a contact: 8-22 min is 1, 23-37 is 2, ..."""
    return (minutes + UNIT_MINUTES - FIRST_UNIT_MINUTES) // UNIT_MINUTES


@dataclass(frozen=True, slots=True)
class Reply:
    """What became of a reply: queued on `channel`, or nowhere to send it (`channel` is None)."""

    channel: str | None

    @property
    def queued(self) -> bool:
        return self.channel is not None


async def send_reply(
    s: AsyncSession, messages: Messages, sender: Person, target: Person, text: str, now: datetime, actor: str
) -> Reply:
    """Queue `text` from `sender` to `target` on the channel they last wrote from, audited."""
    assert target.id is not None
    identity = await reply_identity(s, target.id)
    if identity is None:
        audit(s, now, actor, AuditAction.PEER_REPLY, target.id, delivered=False)
        return Reply(None)
    key = "peer_reply_family" if target.role == Role.FAMILY else "peer_reply"
    body = messages.text(key, target.locale, peer=sender.name, text=text)
    message = queue_message(s, identity, body, MessageKind.RELAY, now)
    audit(
        s,
        now,
        actor,
        AuditAction.PEER_REPLY,
        target.id,
        message_id=message,  # written as the message's id (storage.appends)
        channel=identity.channel,
    )
    return Reply(identity.channel)


async def add_note(
    s: AsyncSession,
    sender: Person,
    pir: Person,
    minutes: int,
    method: ContactMethod,
    text: str,
    now: datetime,
    actor: str,
) -> ContactNote:
    """A contact that ended now and lasted `minutes` (0 < minutes <= MAX_NOTE_MINUTES), audited."""
    assert sender.id is not None and pir.id is not None
    assert 0 < minutes <= MAX_NOTE_MINUTES
    units = units_of(minutes)
    note = ContactNote(
        pir_id=pir.id,
        peer_id=sender.id,
        service_date=local_date(now, sender.timezone),
        started_at=now - timedelta(minutes=minutes),
        ended_at=now,
        minutes=minutes,
        units=units,
        method=method,
        note=text,
        created_at=now,
    )
    s.add(note)
    await s.flush()
    audit(
        s,
        now,
        actor,
        AuditAction.CONTACT_NOTED,
        pir.id,
        note_id=note.id,
        minutes=minutes,
        units=units,
        method=str(method),
    )
    return note
