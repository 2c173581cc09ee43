"""Delivery status of outbound messages: it only ever moves forward.

Providers report out of order (a late "sent" after "delivered", a receipt that arrives before our own
commit of the provider's id), so every writer of `Message.status` goes through `advance_status`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case
from sqlalchemy.sql.elements import ColumnElement

from storage.models import MessageStatus

_RANK = {status.value: rank for rank, status in enumerate(MessageStatus)}


def advance_status(current: str, new: MessageStatus) -> str:
    """`new` if it comes after `current` in `MessageStatus` order, else `current` unchanged."""
    return new.value if _RANK[new.value] > _RANK.get(current, -1) else current


def advance_status_sql(current: Any, new: MessageStatus) -> ColumnElement[Any]:
    """`advance_status` as a SQL expression over the `current` column, to move many rows at once."""
    not_before = [status.value for status in MessageStatus if _RANK[status.value] >= _RANK[new.value]]
    # Plain comparisons, not IN: the expression is used in executemany, which cannot expand a list.
    return case(dict.fromkeys(not_before, current), value=current, else_=new.value)
