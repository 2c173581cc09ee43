"""Delivery status of outbound messages: it only ever moves forward.

Providers report out of order (a late "sent" after "delivered", a receipt that arrives before our own
commit of the provider's id), so every writer of `Message.status` goes through `advance_status`.
"""

from __future__ import annotations

from storage.models import MessageStatus

_RANK = {status.value: rank for rank, status in enumerate(MessageStatus)}


def advance_status(current: str, new: MessageStatus) -> str:
    """`new` if it comes after `current` in `MessageStatus` order, else `current` unchanged."""
    return new.value if _RANK[new.value] > _RANK.get(current, -1) else current
