"""The outbox sender: priority order, retries with backoff, permanent failures never retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Channel, Failed, FailureKind, OutboundMessage, SendResult, Sent
from bot.clock import ManualClock
from bot.outbox.queue import queue_message
from bot.outbox.sender import OutboxSender, RetryPolicy
from bot.people.enrolment import add_person
from storage.db import Database
from storage.models import AuditEvent, ChannelIdentity, Message, MessageKind, MessageStatus, Outbox, Role


class ScriptedChannel(Channel):
    """A network-edge stand-in: answers each send with the next scripted result."""

    name = "console"

    def __init__(self, results: list[SendResult] | None = None) -> None:
        self.results = list(results or [])
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return self.results.pop(0) if self.results else Sent(provider_id=f"p{len(self.sent)}")


async def _identity(app: App) -> ChannelIdentity:
    async with app.db.transaction() as s:
        person = await add_person(s, app.clock.now(), role=Role.PIR, name="Alex", console="alex")
        return (await s.scalars(select(ChannelIdentity).where(ChannelIdentity.person_id == person.id))).one()


async def _queue(app: App, ident: ChannelIdentity, text: str, kind: MessageKind) -> None:
    async with app.db.transaction() as s:
        queue_message(s, ident, text, kind, app.clock.now())


async def test_priority_order(app: App, clock: ManualClock) -> None:
    ident = await _identity(app)
    for text, kind in [
        ("checkin", MessageKind.CHECKIN),
        ("relay", MessageKind.RELAY),
        ("crisis", MessageKind.CRISIS),
        ("alert", MessageKind.ALERT),
    ]:
        await _queue(app, ident, text, kind)
    channel = ScriptedChannel()
    sent = await OutboxSender(app.db, {"console": channel}, clock).drain()
    assert sent == 4
    assert [m.text for m in channel.sent] == ["alert", "crisis", "relay", "checkin"]
    async with app.db.transaction() as s:
        assert (await s.scalars(select(Outbox))).all() == []
        statuses = {m.body: (m.status, m.provider_id) for m in (await s.scalars(select(Message))).all()}
    assert statuses["alert"] == (MessageStatus.SENT, "p1")


async def test_transient_failures_retry_with_backoff(app: App, clock: ManualClock) -> None:
    ident = await _identity(app)
    await _queue(app, ident, "hello", MessageKind.CHECKIN)
    channel = ScriptedChannel(
        [Failed("timeout", FailureKind.TRANSIENT), Failed("429", FailureKind.TRANSIENT, retry_after=30)]
    )
    sender = OutboxSender(app.db, {"console": channel}, clock, retry=RetryPolicy(base_seconds=2))
    assert await sender.drain() == 1  # fails, retry in 2 s
    assert await sender.drain() == 0  # not due yet
    clock.advance(timedelta(seconds=2))
    assert await sender.drain() == 1  # fails again, provider says wait 30 s
    clock.advance(timedelta(seconds=29))
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 1
    assert len(channel.sent) == 3
    async with app.db.transaction() as s:
        message = (await s.scalars(select(Message))).one()
    assert message.status == MessageStatus.SENT


async def test_permanent_failure_is_never_retried_and_marks_identity(app: App, clock: ManualClock) -> None:
    ident = await _identity(app)
    await _queue(app, ident, "hello", MessageKind.CHECKIN)
    channel = ScriptedChannel([Failed("bot was blocked by the user", FailureKind.UNREACHABLE, code="403")])
    sender = OutboxSender(app.db, {"console": channel}, clock)
    assert await sender.drain() == 1
    clock.advance(timedelta(days=1))
    assert await sender.drain() == 0
    assert len(channel.sent) == 1
    async with app.db.transaction() as s:
        message = (await s.scalars(select(Message))).one()
        refreshed = await s.get(ChannelIdentity, ident.id)
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "message.failed"))).all()
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "403")
    assert refreshed is not None and refreshed.unreachable_at == clock.now() - timedelta(days=1)
    assert len(events) == 1


async def test_gives_up_after_max_attempts(app: App, clock: ManualClock) -> None:
    ident = await _identity(app)
    await _queue(app, ident, "hello", MessageKind.CHECKIN)
    channel = ScriptedChannel([Failed("down", FailureKind.TRANSIENT)] * 3)
    sender = OutboxSender(
        app.db, {"console": channel}, clock, retry=RetryPolicy(base_seconds=1, max_attempts=3)
    )
    for _ in range(5):
        await sender.drain()
        clock.advance(timedelta(minutes=10))
    assert len(channel.sent) == 3
    async with app.db.transaction() as s:
        assert (await s.scalars(select(Message))).one().status == MessageStatus.FAILED


async def test_opted_out_identity_gets_only_keyword_and_crisis(app: App, clock: ManualClock) -> None:
    ident = await _identity(app)
    async with app.db.transaction() as s:
        row = await s.get(ChannelIdentity, ident.id)
        assert row is not None
        row.opted_out_at = clock.now()
        for kind in (MessageKind.CHECKIN, MessageKind.RELAY, MessageKind.KEYWORD, MessageKind.CRISIS):
            queue_message(s, row, str(kind), kind, clock.now())
    async with app.db.transaction() as s:
        bodies = [m.body for m in (await s.scalars(select(Message).order_by(col(Message.id)))).all()]
    assert bodies == ["keyword", "crisis"]


async def test_a_raising_adapter_does_not_stop_delivery(app: App, clock: ManualClock) -> None:
    class Exploding(ScriptedChannel):
        async def send(self, message: OutboundMessage) -> SendResult:
            if message.text == "boom":
                raise RuntimeError("adapter bug")
            return await super().send(message)

    ident = await _identity(app)
    await _queue(app, ident, "boom", MessageKind.ALERT)
    await _queue(app, ident, "fine", MessageKind.CHECKIN)
    channel = Exploding()
    assert await OutboxSender(app.db, {"console": channel}, clock).drain() == 2
    assert [m.text for m in channel.sent] == ["fine"]


async def test_one_sender_per_provider_across_processes(app: App, clock: ManualClock) -> None:
    """Two senders on one PostgreSQL database (as two `serve` processes): every message goes out once."""
    if app.db.is_sqlite:
        pytest.skip("SQLite deployments run one process; the advisory lock is PostgreSQL's")
    ident = await _identity(app)
    for number in range(40):
        await _queue(app, ident, f"m{number}", MessageKind.CHECKIN)
    channel = ScriptedChannel()
    other = Database(app.db.url)  # a second engine: its own connections, like another process
    senders = [
        OutboxSender(app.db, {"console": channel}, clock),
        OutboxSender(other, {"console": channel}, clock),
    ]
    stop = asyncio.Event()
    runs = [asyncio.create_task(s.run(stop, idle_seconds=0.01)) for s in senders]
    try:
        async with asyncio.timeout(20):
            while len(channel.sent) < 40:  # noqa: ASYNC110  (polling a fake channel, bounded by the timeout)
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # a duplicate would show up now
    finally:
        stop.set()
        await asyncio.gather(*runs)
        await other.dispose()
    assert sorted(m.text for m in channel.sent) == sorted(f"m{n}" for n in range(40))
