"""Queuing outbound messages inside the deciding transaction: a contact-history row and an outbox row each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Button
from storage.appends import QueuedMessage, appends
from storage.models import PRIORITY, ChannelIdentity, Direction, MessageKind, MessageStatus

# Kinds that may reach an opted-out identity: the opt-out confirmation itself, and crisis resources
# for a person who has just written to us.
ALLOWED_WHEN_OPTED_OUT = {MessageKind.KEYWORD, MessageKind.CRISIS}


def queue_to(
    s: AsyncSession,
    *,
    channel: str,
    address: str,
    person_id: int | None,
    text: str,
    kind: MessageKind,
    now: datetime,
    buttons: Sequence[Sequence[Button]] = (),
) -> QueuedMessage:
    """Record an outbound message in contact history and queue it for delivery after commit.

    Both rows are written in bulk with the rest of the transaction (`storage.appends`); the returned
    handle has the message's id once they are.
    """
    queued = QueuedMessage(
        message={
            "direction": Direction.OUTBOUND,
            "channel": channel,
            "address": address,
            "person_id": person_id,
            "body": text,
            "kind": kind,
            "provider_id": None,
            "status": MessageStatus.PENDING,
            "error_code": None,
            "created_at": now,
            "updated_at": now,
        },
        outbox={
            "channel": channel,
            "address": address,
            "body": text,
            "buttons": [[{"label": b.label, "payload": b.payload} for b in row] for row in buttons],
            "priority": PRIORITY.get(kind, PRIORITY[MessageKind.CHECKIN]),
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": None,
            "created_at": now,
        },
    )
    appends(s).messages.append(queued)
    return queued


def queue_message(
    s: AsyncSession,
    identity: ChannelIdentity,
    text: str,
    kind: MessageKind,
    now: datetime,
    buttons: Sequence[Sequence[Button]] = (),
) -> QueuedMessage | None:
    """Queue to a known identity; returns None (nothing queued) when it opted out of this kind."""
    if identity.opted_out_at is not None and kind not in ALLOWED_WHEN_OPTED_OUT:
        return None
    return queue_to(
        s,
        channel=identity.channel,
        address=identity.address,
        person_id=identity.person_id,
        text=text,
        kind=kind,
        now=now,
        buttons=buttons,
    )
