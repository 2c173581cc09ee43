"""Rows appended in bulk (`storage.appends`): outbound messages with their outbox rows, and audit events.

On both backends: the transaction reads its own appended rows, they are written at commit and only then,
a `QueuedMessage` in an audit detail becomes the message's id, and many rows keep their order and pairing.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.outbox.queue import queue_to
from storage.appends import QueuedMessage, appends, write_appends
from storage.db import Database
from storage.models import (
    PRIORITY,
    Answer,
    AuditEvent,
    Direction,
    FlowSession,
    Message,
    MessageKind,
    MessageStatus,
    Outbox,
    Person,
    Role,
)
from storage.repo import audit

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _queue(
    s: AsyncSession, body: str, kind: MessageKind = MessageKind.REPLY, address: str = "alex"
) -> QueuedMessage:
    return queue_to(s, channel="console", address=address, person_id=None, text=body, kind=kind, now=NOW)


_COUNTS = (
    "SELECT (SELECT count(*) FROM message), (SELECT count(*) FROM outbox), (SELECT count(*) FROM auditevent)"
)


async def _counts(db: Database) -> tuple[int, int, int]:
    """Rows per table as another connection sees them (committed rows only)."""
    if db.is_sqlite:
        # A plain reader: the app's SQLite connections BEGIN IMMEDIATE, which would wait for our writer.
        path = db.url.removeprefix("sqlite+aiosqlite:///")
        with closing(sqlite3.connect(path)) as conn:
            messages, outbox, events = conn.execute(_COUNTS).fetchone()
    else:
        async with db.engine.connect() as conn:
            messages, outbox, events = (await conn.execute(text(_COUNTS))).one()
    return messages, outbox, events


async def test_an_orm_query_later_in_the_transaction_sees_the_queued_rows(db: Database) -> None:
    async with db.transaction() as s:
        queued = _queue(s, "hello")
        audit(s, NOW, "system", "test.queued", None, message_id=queued)
        assert queued.id is None  # nothing written yet: it waits for a query or the commit
        message = (await s.scalars(select(Message))).one()  # read-your-writes
        assert queued.id is not None and queued.id == message.id
        assert (message.body, message.direction, message.status) == (
            "hello",
            Direction.OUTBOUND,
            MessageStatus.PENDING,
        )
        row = (await s.scalars(select(Outbox))).one()
        assert (row.message_id, row.body) == (queued.id, "hello")
        event = (await s.scalars(select(AuditEvent))).one()
        assert event.detail == {"message_id": queued.id}
        assert not appends(s)  # written once, not again at commit
    assert await _counts(db) == (1, 1, 1)


async def test_rows_are_written_at_commit_and_not_before(db: Database) -> None:
    async with db.transaction() as s:
        s.add(Person(role=Role.PIR, name="Ana", created_at=NOW))
        await s.flush()  # the transaction has begun and written
        first = _queue(s, "one")
        second = _queue(s, "two")
        audit(s, NOW, "system", "test.event", None, n=1)
        # Another connection sees nothing while this transaction is open (nor does this one on disk).
        assert await _counts(db) == (0, 0, 0)
        assert (first.id, second.id) == (None, None)
    assert first.id is not None and second.id is not None and first.id < second.id
    assert await _counts(db) == (2, 2, 1)
    async with db.transaction() as s:
        bodies = {m.id: m.body for m in (await s.scalars(select(Message))).all()}
    assert bodies == {first.id: "one", second.id: "two"}


async def test_write_appends_gives_the_ids_at_once(db: Database) -> None:
    async with db.transaction() as s:
        queued = _queue(s, "now")
        await write_appends(s)
        assert queued.id is not None
        later = _queue(s, "later")  # appended after the first write: written at commit
    assert later.id is not None and later.id > queued.id
    assert await _counts(db) == (2, 2, 0)


class BoomError(Exception):
    pass


async def _queue_then_fail(db: Database, *, written_first: bool) -> None:
    async with db.transaction() as s:
        queued = _queue(s, "never")
        audit(s, NOW, "system", "test.never", None, message_id=queued)
        if written_first:  # written into the transaction by a query, then rolled back with it
            assert (await s.scalar(select(func.count()).select_from(Message))) == 1
        raise BoomError


@pytest.mark.parametrize("written_first", [False, True], ids=["still-pending", "already-written"])
async def test_nothing_is_written_when_the_transaction_raises(db: Database, written_first: bool) -> None:
    with pytest.raises(BoomError):
        await _queue_then_fail(db, written_first=written_first)
    assert await _counts(db) == (0, 0, 0)
    async with db.transaction() as s:  # the next transaction of the pool starts clean
        s.add(Person(role=Role.PIR, name="Ana", created_at=NOW))
    assert await _counts(db) == (0, 0, 0)


async def test_an_audit_detail_naming_a_queued_message_is_stored_as_its_id(db: Database) -> None:
    async with db.transaction() as s:
        person = Person(role=Role.PIR, name="Ana", created_at=NOW)
        s.add(person)
        await s.flush()
        _queue(s, "decoy")  # so that the referred message's id is not simply 1
        queued = _queue(s, "the one")
        audit(
            s,
            NOW,
            f"person:{person.id}",
            "test.sent",
            person.id,
            message_id=queued,
            channel="console",
            count=2,
        )
    async with db.transaction() as s:
        event = (await s.scalars(select(AuditEvent))).one()
        referred = await s.get(Message, event.detail["message_id"])
    assert event.detail == {"message_id": queued.id, "channel": "console", "count": 2}
    assert (event.person_id, event.actor, event.action) == (person.id, f"person:{person.id}", "test.sent")
    assert referred is not None and referred.body == "the one"


async def test_an_audit_appended_after_its_message_was_written_still_names_the_id(db: Database) -> None:
    async with db.transaction() as s:
        queued = _queue(s, "first")
        await s.scalars(select(Outbox))  # writes the message
        assert queued.id is not None
        _queue(s, "second")
        audit(s, NOW, "system", "test.after", None, message_id=queued)
    async with db.transaction() as s:
        event = (await s.scalars(select(AuditEvent))).one()
    assert event.detail == {"message_id": queued.id}


async def test_many_queued_messages_keep_their_order_and_each_outbox_row_its_message(db: Database) -> None:
    kinds = [MessageKind.CHECKIN, MessageKind.ALERT, MessageKind.REPLY, MessageKind.CRISIS, MessageKind.RELAY]
    queued: list[QueuedMessage] = []
    async with db.transaction() as s:
        for number in range(60):
            queued.append(_queue(s, f"m{number:02d}", kinds[number % len(kinds)], address=f"a{number % 7}"))
            if number == 29:  # half written by a query mid-transaction, half at commit
                await s.scalars(select(Message).where(col(Message.id) < 0))
    ids = [q.id or 0 for q in queued]
    assert 0 not in ids
    assert ids == sorted(ids) and len(set(ids)) == 60  # in queue order
    async with db.transaction() as s:
        pairs = (
            await s.execute(
                select(Outbox, Message)
                .join(Message, col(Message.id) == col(Outbox.message_id))
                .order_by(col(Outbox.id))
            )
        ).all()
    assert len(pairs) == 60
    assert [m.body for _, m in pairs] == [f"m{n:02d}" for n in range(60)]
    for row, message in pairs:
        assert row.body == message.body
        assert row.address == message.address
        assert row.priority == PRIORITY[MessageKind(message.kind)]
        assert message.kind == kinds[int(message.body[1:]) % len(kinds)]
    by_body = {m.body: m.id for _, m in pairs}
    assert [by_body[f"m{n:02d}"] for n in range(60)] == ids  # each handle names its own row


async def test_appended_answers_are_read_back_in_the_transaction_and_rolled_back_with_it(
    db: Database,
) -> None:
    async with db.transaction() as s:
        person = Person(role=Role.PIR, name="Ana", created_at=NOW)
        s.add(person)
        await s.flush()
        assert person.id is not None
        session = FlowSession(
            person_id=person.id, flow_id="daily_checkin", channel="console", started_at=NOW, updated_at=NOW
        )
        s.add(session)
        await s.flush()
        assert session.id is not None
    row = {"session_id": session.id, "person_id": person.id, "flow_id": "daily_checkin", "answered_at": NOW}

    async def answer_then_fail() -> None:
        async with db.transaction() as s:
            appends(s).answers.append({**row, "step_id": "mood", "value": 4, "raw": "4"})
            appends(s).answers.append({**row, "step_id": "craving", "value": 2, "raw": "2"})
            got = (await s.scalars(select(Answer).order_by(col(Answer.id)))).all()
            assert [(a.step_id, a.value) for a in got] == [("mood", 4), ("craving", 2)]
            raise BoomError

    with pytest.raises(BoomError):
        await answer_then_fail()
    async with db.transaction() as s:
        assert (await s.scalars(select(Answer))).all() == []
        appends(s).answers.append({**row, "step_id": "mood", "value": 3, "raw": "three"})
    async with db.transaction() as s:
        (kept,) = (await s.scalars(select(Answer))).all()
    assert (kept.step_id, kept.value, kept.raw, kept.session_id) == ("mood", 3, "three", session.id)
