"""Append-only rows of a transaction, written in bulk: outbound messages with their outbox rows, flow
answers and audit events.

These rows are never changed by the transaction that writes them, and busy paths write many of them
(each message of an inbound batch records an answer, a reply and an audit event). Building ORM objects
and running them through the unit of work costs more than everything else in the pipeline, so they are
collected here as plain values and written with one multi-row INSERT per table:

- before the transaction commits (`storage.db.Database.transaction`);
- before any ORM query in the same session runs, so the transaction still reads its own writes, as
  with the ORM's autoflush (`install` registers the hook);
- when a caller needs the new ids at once (`write_appends`).

An audit detail may name a `QueuedMessage` (for example `message_id=queued`): it is written as that
message's id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session
from sqlmodel import col

from storage.models import Answer, AuditEvent, Message, Outbox

_KEY = "peerline.appends"


@dataclass(slots=True, eq=False)
class QueuedMessage:
    """An outbound message queued in this transaction; `id` is known once it is written."""

    message: dict[str, Any]
    outbox: dict[str, Any]
    id: int | None = None


@dataclass(slots=True)
class Appends:
    messages: list[QueuedMessage] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.messages or self.answers or self.audit)


def appends(s: AsyncSession | Session) -> Appends:
    """The rows waiting to be written in this session's transaction."""
    found = s.info.get(_KEY)
    if found is None:
        found = s.info[_KEY] = Appends()
    assert isinstance(found, Appends)
    return found


def _write(session: Session) -> None:
    pending = session.info.get(_KEY)
    if not pending:
        return
    session.info[_KEY] = Appends()
    conn = session.connection()
    if pending.messages:
        # RETURNING in parameter order (an insert sentinel makes that one statement on SQLite too).
        ids = conn.execute(
            insert(Message).returning(col(Message.id), sort_by_parameter_order=True),
            [queued.message for queued in pending.messages],
        ).scalars()
        for queued, new_id in zip(pending.messages, ids, strict=True):
            queued.id = new_id
        conn.execute(
            insert(Outbox), [{**queued.outbox, "message_id": queued.id} for queued in pending.messages]
        )
    if pending.answers:
        conn.execute(insert(Answer), pending.answers)
    if pending.audit:
        for row in pending.audit:
            row["detail"] = {
                key: value.id if isinstance(value, QueuedMessage) else value
                for key, value in row["detail"].items()
            }
        conn.execute(insert(AuditEvent), pending.audit)


async def write_appends(s: AsyncSession) -> None:
    """Write what this transaction has appended so far (ids of queued messages are then known)."""
    if s.info.get(_KEY):
        await s.run_sync(_write)


def _before_query(state: ORMExecuteState) -> None:
    if state.session.info.get(_KEY):
        _write(state.session)


def install(session_class: type[Session]) -> None:
    """Write pending rows before any ORM statement runs in sessions of this class."""
    if not event.contains(session_class, "do_orm_execute", _before_query):
        event.listen(session_class, "do_orm_execute", _before_query)
