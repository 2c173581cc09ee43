"""The outbox sender on large batches: every result recorded, opt-outs mid-batch, receipts that won the race.

Transactions and statements are observed with SQLAlchemy engine events (they record, they change nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import col, select

import bot.outbox.sender
from bot.app import App
from bot.channels.base import Inbound, OutboundMessage, SendResult
from bot.channels.console import ConsoleChannel
from bot.clock import ManualClock
from bot.outbox.queue import queue_message
from bot.outbox.sender import OutboxSender
from bot.people.enrolment import add_person, assign
from storage.models import (
    PRIORITY,
    AuditEvent,
    ChannelIdentity,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Outbox,
    Role,
)
from tests.fakes.sms_world import SmsWorld, sms_world
from tests.fakes.twilio import Created

ALEX = "+12025550143"


@contextmanager
def observing(name: str) -> Iterator[list[tuple[Any, ...]]]:
    """Every `name` event of every engine (the sender's urgent lane has an engine of its own)."""
    seen: list[tuple[Any, ...]] = []

    def record(*args: Any) -> None:
        seen.append(args)

    event.listen(Engine, name, record)
    try:
        yield seen
    finally:
        event.remove(Engine, name, record)


async def _people(app: App, *names: str) -> dict[str, ChannelIdentity]:
    """PIRs on the console with peer Sam; their console identities by lower-case name."""
    now = app.clock.now()
    async with app.db.transaction() as s:
        await add_person(s, now, role=Role.PEER, name="Sam", console="sam")
        for name in names:
            await add_person(s, now, role=Role.PIR, name=name, console=name.lower())
            await assign(s, now, pir=name, peer="Sam")
        found = await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.channel) == "console"))
        return {ident.address: ident for ident in found}


async def _outbound(app: App) -> dict[int, Message]:
    async with app.db.transaction() as s:
        rows = await s.scalars(select(Message).where(col(Message.direction) == Direction.OUTBOUND))
        return {m.id: m for m in rows if m.id is not None}


async def _outbox_left(app: App) -> int:
    async with app.db.transaction() as s:
        return len((await s.scalars(select(Outbox))).all())


# -- every result of a large batch is recorded ------------------------------------------------------------


async def test_every_result_of_a_large_batch_is_recorded_with_its_own_provider_id(
    app: App, clock: ManualClock
) -> None:
    idents = await _people(app, "Alex", "Pat", "Robin")
    kinds = [MessageKind.CHECKIN, MessageKind.REPLY, MessageKind.ALERT, MessageKind.SYSTEM]
    async with app.db.transaction() as s:
        for number in range(200):
            ident = list(idents.values())[number % len(idents)]
            queue_message(s, ident, f"m{number:03d}", kinds[number % len(kinds)], clock.now())
    order: list[int] = []  # message ids in the order sent: the n-th send got provider id console:out:n
    channel = ConsoleChannel(show=lambda m: order.append(m.message_id))
    sender = OutboxSender(app.db, {"console": channel}, clock)
    with observing("commit") as commits:
        assert await sender.drain() == 200
    # Each result is its own small write, before the next send (issue 13: a kill repeats at most one).
    assert len(commits) >= 200, f"{len(commits)} transactions to send and record 200 messages"

    assert await _outbox_left(app) == 0
    messages = await _outbound(app)
    assert len(messages) == 200 and sorted(order) == sorted(messages)  # each sent exactly once
    for sent_as, message_id in enumerate(order, 1):
        message = messages[message_id]
        assert (message.status, message.provider_id) == (MessageStatus.SENT, f"console:out:{sent_as}")
        assert message.updated_at == clock.now()
    # Highest priority first, oldest first within a priority.
    assert order == sorted(order, key=lambda i: (PRIORITY[MessageKind(messages[i].kind)], i))


# -- an opt-out that arrives while a batch is being sent --------------------------------------------------


class StopDuringFirstSend(ConsoleChannel):
    """Alex texts STOP (through the real pipeline) while our first message to Alex is going out."""

    def __init__(self, app: App) -> None:
        super().__init__()
        self.app = app
        self.stopped = False

    async def send(self, message: OutboundMessage) -> SendResult:
        result = await super().send(message)
        if message.address == "alex" and not self.stopped:
            self.stopped = True
            outcome = await self.app.pipeline.handle(
                Inbound("console", "alex", "STOP", self.app.clock.now(), provider_id="console:in:stop")
            )
            assert outcome.queued == 2  # the confirmation, and a word to the peer
        return result


async def test_a_stop_handled_mid_batch_withholds_the_rest_of_the_batch(
    app: App, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.outbox.sender, "BATCH_SECONDS", 0.0)  # every send is past the interval
    idents = await _people(app, "Alex", "Pat")
    async with app.db.transaction() as s:
        for number in range(6):  # one batch: alex 0, pat 0, alex 1, pat 1, ...
            for who in ("alex", "pat"):
                queue_message(s, idents[who], f"{who} {number}", MessageKind.CHECKIN, clock.now())
    channel = StopDuringFirstSend(app)
    sender = OutboxSender(app.db, {"console": channel}, clock)
    assert await sender.drain() == 12 + 2  # the 12 dealt with (sent or withheld), then the 2 STOP queued
    assert channel.stopped

    alex = [m.text for m in channel.take("alex")]
    assert alex[0] == "alex 0"
    assert len(alex) == 2 and "unsubscribed" in alex[1]  # then only the confirmation
    assert [m.text for m in channel.take("pat")] == [f"pat {n}" for n in range(6)]
    (told,) = [m.text for m in channel.take("sam")]
    assert "Alex opted out" in told

    messages = await _outbound(app)
    states = {m.body: (m.status, m.error_code) for m in messages.values()}
    assert states["alex 0"] == (MessageStatus.SENT, None)
    for number in range(1, 6):
        assert states[f"alex {number}"] == (MessageStatus.FAILED, "opted_out")
        assert states[f"pat {number}"] == (MessageStatus.SENT, None)
    async with app.db.transaction() as s:
        withheld = (
            await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "message.withheld"))
        ).all()
    by_id = {m.id: m.body for m in messages.values()}
    assert sorted(by_id[e.detail["message_id"]] for e in withheld) == [f"alex {n}" for n in range(1, 6)]
    assert await _outbox_left(app) == 0


# -- delivery receipts that beat our record of the send ---------------------------------------------------


async def test_recording_a_batch_never_moves_a_status_back(app: App, clock: ManualClock) -> None:
    """Receipts already wrote later statuses to some rows; recording the sends never moves them back."""
    idents = await _people(app, "Alex")
    async with app.db.transaction() as s:
        for number in range(10):
            queue_message(s, idents["alex"], f"m{number}", MessageKind.CHECKIN, clock.now())
    ahead = {
        "m2": MessageStatus.DELIVERED,
        "m3": MessageStatus.UNDELIVERED,
        "m5": MessageStatus.READ,
        "m7": MessageStatus.FAILED,
        "m8": MessageStatus.SENDING,  # earlier than sent: moves on to sent
        "m9": MessageStatus.QUEUED,
    }
    async with app.db.transaction() as s:
        for message in (await s.scalars(select(Message))).all():
            if message.body in ahead:
                message.status = ahead[message.body]
    channel = ConsoleChannel()
    sender = OutboxSender(app.db, {"console": channel}, clock)
    with observing("before_cursor_execute") as statements:
        assert await sender.drain() == 10
    updates = [
        len(params) if many else 1
        for _conn, _cursor, sql, params, _context, many in statements
        if sql.lstrip().upper().startswith("UPDATE MESSAGE")
    ]
    assert sum(updates) == 10  # every send recorded, each before the next (issue 13)

    messages = {m.body: m for m in (await _outbound(app)).values()}
    sent = {m.text: m.message_id for m in channel.take("alex")}
    for body, message in messages.items():
        expected = ahead.get(body, MessageStatus.SENT)
        if expected in (MessageStatus.SENDING, MessageStatus.QUEUED):
            expected = MessageStatus.SENT
        assert message.status == expected, body
        assert message.provider_id is not None and message.provider_id.startswith("console:out:")
        assert sent[body] == message.id
    assert len({m.provider_id for m in messages.values()}) == 10
    assert await _outbox_left(app) == 0


@pytest.fixture
async def world(db_url: str, clock: ManualClock) -> AsyncIterator[SmsWorld]:
    async with sms_world(db_url, clock) as w:
        now = clock.now()
        async with w.app.db.transaction() as s:
            await add_person(s, now, role=Role.PEER, name="Sam", phone="+12025550101")
            await add_person(s, now, role=Role.PIR, name="Alex", phone=ALEX)
            await assign(s, now, pir="Alex", peer="Sam")
        yield w
        assert w.twilio.violations == []


async def test_sms_receipts_that_beat_the_record_of_a_batch_are_kept(world: SmsWorld) -> None:
    """Twilio reports some messages delivered (or not) before its 201 reaches us: those statuses stay."""
    app = world.app
    receipts = {"m1": ("delivered", None), "m3": ("undelivered", 30003), "m4": ("delivered", None)}

    async def receipt_first(created: Created) -> None:
        body = created.json["body"]
        if body in receipts:
            status, code = receipts[body]
            assert (await world.receipt(created.sid, status, code)).status == 204

    world.twilio.before_answer = receipt_first
    async with app.db.transaction() as s:
        ident = (await s.scalars(select(ChannelIdentity).where(ChannelIdentity.address == ALEX))).one()
        for number in range(6):
            queue_message(s, ident, f"m{number}", MessageKind.CHECKIN, app.clock.now())
    assert await world.deliver() == 6

    sids = world.twilio.sids_to(ALEX)
    assert len(sids) == 6
    messages = sorted((await _outbound(app)).values(), key=lambda m: m.id or 0)
    got = [(m.body, m.status, m.error_code, m.provider_id) for m in messages]
    assert got == [
        ("m0", MessageStatus.SENT, None, f"sms:{sids[0]}"),
        ("m1", MessageStatus.DELIVERED, None, f"sms:{sids[1]}"),
        ("m2", MessageStatus.SENT, None, f"sms:{sids[2]}"),
        ("m3", MessageStatus.UNDELIVERED, "30003", f"sms:{sids[3]}"),
        ("m4", MessageStatus.DELIVERED, None, f"sms:{sids[4]}"),
        ("m5", MessageStatus.SENT, None, f"sms:{sids[5]}"),
    ]
    assert await _outbox_left(app) == 0


async def test_each_result_is_recorded_before_the_next_send(app: App, clock: ManualClock) -> None:
    """A SIGKILL between a provider accepting a message and our record of it can repeat only that one."""
    idents = await _people(app, "Alex", "Pat")
    async with app.db.transaction() as s:
        for number in range(20):
            queue_message(
                s, list(idents.values())[number % 2], f"m{number}", MessageKind.CHECKIN, clock.now()
            )
    unrecorded_at_send: list[int] = []

    class Checking(ConsoleChannel):
        last: int | None = None

        async def send(self, message: OutboundMessage) -> SendResult:
            if self.last is not None:
                async with app.db.transaction() as s:
                    before = await s.get(Message, self.last)
                    if before is None or before.provider_id is None:
                        unrecorded_at_send.append(self.last)
            self.last = message.message_id
            return await super().send(message)

    assert await OutboxSender(app.db, {"console": Checking()}, clock).drain() == 20
    assert unrecorded_at_send == []
