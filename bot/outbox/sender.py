"""The outbox sender: delivers what `bot.outbox.queue` queued, after commit, one channel at a time.

Delivery order is by priority (alerts, crisis replies, keyword confirmations, relays and replies, then
check-ins) and age. Transient failures are retried with exponential backoff (or the provider's
retry-after); permanent refusals are never retried and mark the identity when the provider says the
person cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, text, update
from sqlalchemy import select as select_columns
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.channels.base import Button, Channel, Failed, FailureKind, OutboundMessage, SendResult, Sent
from bot.channels.ratelimit import RateLimiter
from bot.clock import Clock
from bot.outbox.delivery import advance_status_sql
from bot.outbox.queue import ALLOWED_WHEN_OPTED_OUT
from storage.db import Database
from storage.models import AuditAction, ChannelIdentity, Message, MessageStatus, Outbox
from storage.repo import audit, identity_for, identity_in, mark_lost

log = logging.getLogger(__name__)

# How long the sender works through one fetched batch before fetching the rest again, so opt-outs and
# newly queued higher-priority messages are never more than this out of date.
BATCH_SECONDS = 1.0


COOLING_SLACK = 0.05
"""A chat whose per-chat gap has less than this left is sent to (waiting that long); a longer gap is
skipped for now, so one busy chat never holds back the rest."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    max_attempts: int = 10

    def delay(self, attempts: int) -> float:
        return float(min(self.max_seconds, self.base_seconds * 2 ** max(0, attempts - 1)))


# Told when a send finds a channel newly lost (opted out with the carrier, blocked, gone): who should hear
# is `bot.people.lost_contact`'s decision, wired in by the app; returns how many messages it queued.
OnLost = Callable[[AsyncSession, ChannelIdentity, datetime, bool], Awaitable[int]]


class _Due(NamedTuple):
    """An outbox row fetched for sending (plain values: the sender never changes it in place)."""

    id: int
    message_id: int
    channel: str
    address: str
    body: str
    buttons: list[Any]
    kind: str


class OutboxSender:
    """Drains the outbox through the channels; one instance per process."""

    def __init__(
        self,
        db: Database,
        channels: Mapping[str, Channel],
        clock: Clock,
        *,
        batch: int = 128,
        retry: RetryPolicy | None = None,
        on_lost: OnLost | None = None,
    ) -> None:
        self._db = db
        self._on_lost = on_lost
        self._channels = channels
        self._clock = clock
        self._batch = batch
        self._retry = retry or RetryPolicy()
        self._wakes: dict[str, asyncio.Event] = {}
        self._urgent = asyncio.Event()

    def wake(self, *, urgent: bool = False) -> None:
        """Called after a commit that queued messages; `urgent` interrupts a batch for an alert."""
        for event in self._wakes.values():
            event.set()
        if urgent:
            self._urgent.set()

    async def drain(self, channel: str | None = None) -> int:
        """Send everything due now (on one channel, or all), highest priority first; returns how many."""
        names = [channel] if channel is not None else list(self._channels)
        total = 0
        while True:
            self._urgent.clear()
            # A chat still inside its per-chat gap (Telegram: 1 message a second) waits without holding
            # everyone else: its rows are left for a later fetch while other chats' rows go out.
            cooling = {
                address: (left, limiter)
                for name in names
                if (limiter := self._channels[name].limiter) is not None
                for address, left in limiter.cooling(COOLING_SLACK).items()
            }
            # The sender's transactions are small and stand between a committed alert and its page, so
            # they go ahead of queued inbound work (SQLite; see storage.db._WriterQueue).
            async with self._db.transaction(urgent=True) as s:
                found = [
                    _Due(*row)
                    for row in await s.execute(
                        select_columns(
                            col(Outbox.id),
                            col(Outbox.message_id),
                            col(Outbox.channel),
                            col(Outbox.address),
                            col(Outbox.body),
                            col(Outbox.buttons),
                            col(Message.kind),
                        )
                        .join(Message, col(Message.id) == col(Outbox.message_id))
                        .where(
                            col(Outbox.next_attempt_at) <= self._clock.now(),
                            col(Outbox.channel).in_(names),
                            col(Outbox.address).not_in(list(cooling)),
                        )
                        .order_by(col(Outbox.priority), col(Outbox.id))
                        .limit(self._batch)
                    )
                ]
                waiting: list[tuple[float, RateLimiter]] = []
                if not found and cooling:
                    pending = await s.scalars(
                        select_columns(col(Outbox.address))
                        .where(
                            col(Outbox.next_attempt_at) <= self._clock.now(),
                            col(Outbox.channel).in_(names),
                            col(Outbox.address).in_(list(cooling)),
                        )
                        .distinct()
                    )
                    waiting = [cooling[address] for address in pending]
                if not found and not waiting:
                    return total
                if found:
                    batch = await self._withhold(s, found)
            if not found:  # only chats inside their gap have messages due: wait for the first gap
                left, limiter = min(waiting, key=lambda pair: pair[0])
                await limiter.pause(left)
                continue
            total += len(found) - len(batch) + await self._send_batch(batch)

    async def _withhold(self, s: AsyncSession, batch: list[_Due]) -> list[_Due]:
        """Drop messages queued before their recipient opted out (after STOP's confirmation, silence).

        Returns the rest of the batch, still to be sent.
        """
        held = [row for row in batch if row.kind not in ALLOWED_WHEN_OPTED_OUT]
        if not held:
            return batch
        found = await s.execute(
            select(col(ChannelIdentity.channel), col(ChannelIdentity.address)).where(
                col(ChannelIdentity.opted_out_at).is_not(None),
                identity_in((row.channel, row.address) for row in held),
            )
        )
        opted_out = {(channel, address) for channel, address in found}
        dropped = {row.id for row in held if (row.channel, row.address) in opted_out}
        if not dropped:
            return batch
        now = self._clock.now()
        for row in held:
            if row.id not in dropped:
                continue
            message = await s.get(Message, row.message_id)
            current = await s.get(Outbox, row.id)
            if message is None or current is None:
                continue
            message.status = MessageStatus.FAILED
            message.error_code = "opted_out"
            message.updated_at = now
            await s.delete(current)
            audit(s, now, "system", AuditAction.MESSAGE_WITHHELD, message.person_id, message_id=message.id)
        return [row for row in batch if row.id not in dropped]

    async def _send_batch(self, batch: list[_Due]) -> int:
        """Send a fetched batch in order; returns how many rows were sent.

        Each result is written before the next send on the channel, so a crash (even SIGKILL) between
        a provider accepting a message and us recording it can repeat at most that one message. A batch
        stops early, and the rest is fetched again (priorities and opt-outs read afresh), after
        `BATCH_SECONDS`, when an alert is waiting, or when the provider reports an opt-out we had not
        seen.
        """
        began = time.monotonic()
        sent = 0
        cooling: set[tuple[str, str]] = set()
        for row in batch:
            limiter = self._channels[row.channel].limiter
            key = (row.channel, row.address)
            if key in cooling or (limiter is not None and limiter.gap_left(row.address) > COOLING_SLACK):
                cooling.add(key)  # this chat waits its gap; the others go on (a later fetch has it)
                continue
            result = await self._send(row)
            sent += 1
            # Recorded before anything else is sent: unrecorded, it would be sent again after a crash.
            await asyncio.shield(self._record([(row, result)]))
            if isinstance(result, Failed) and result.kind is FailureKind.OPTED_OUT:
                break  # nothing more to that address: the next fetch withholds the rest
            if self._urgent.is_set() or time.monotonic() - began > BATCH_SECONDS:
                break
        return sent

    async def _send(self, row: _Due) -> SendResult:
        channel = self._channels[row.channel]
        buttons = tuple(tuple(Button(b["label"], b["payload"]) for b in r) for r in row.buttons)
        out = OutboundMessage(row.message_id, row.channel, row.address, row.body, buttons)
        if channel.limiter is not None:
            await channel.limiter.acquire(row.address)
        try:
            return await channel.send(out)
        except Exception as exc:  # a bug in an adapter must not stop delivery of everything else
            log.exception("channel %s raised while sending outbox row %s", row.channel, row.id)
            return Failed(f"adapter error: {exc!r}", FailureKind.TRANSIENT)

    async def _record(self, results: Sequence[tuple[_Due, SendResult]]) -> None:
        """One transaction for the results of many sends."""
        now = self._clock.now()
        sent = [(row, result) for row, result in results if isinstance(result, Sent)]
        async with self._db.transaction(urgent=True) as s:
            if sent:
                conn = await s.connection()
                # A delivery receipt may have beaten this commit (it finds the row by our id): the
                # status only moves forward, decided row by row inside the UPDATE itself.
                await conn.execute(
                    update(Message)
                    .where(col(Message.id) == bindparam("sent_id"))
                    .values(
                        provider_id=bindparam("sent_provider_id"),
                        status=advance_status_sql(col(Message.status), MessageStatus.SENT),
                        updated_at=now,
                    ),
                    [
                        {"sent_id": row.message_id, "sent_provider_id": result.provider_id}
                        for row, result in sent
                    ],
                )
                await conn.execute(delete(Outbox).where(col(Outbox.id).in_([row.id for row, _ in sent])))
            for row, result in results:
                if not isinstance(result, Failed):
                    continue
                current = await s.get(Outbox, row.id)
                # Locked: a delivery receipt may be updating the same row right now (see bot.outbox.delivery).
                message = await s.get(Message, row.message_id, with_for_update=True)
                if current is not None and message is not None:
                    await self._failed(s, current, message, result, now)

    async def _failed(
        self, s: AsyncSession, row: Outbox, message: Message, result: Failed, now: datetime
    ) -> None:
        row.attempts += 1
        row.last_error = result.reason
        message.error_code = result.code
        message.updated_at = now
        if result.permanent or row.attempts >= self._retry.max_attempts:
            message.status = MessageStatus.FAILED
            await s.delete(row)
            ident = await identity_for(s, row.channel, row.address)
            if ident is not None and result.kind.loses_contact:
                # The provider knows of a STOP we never saw (Twilio 21610), or the chat or number is gone.
                opted_out = result.kind is FailureKind.OPTED_OUT
                lost = mark_lost(s, ident, now, opted_out=opted_out, code=result.code, source="send")
                if lost and self._on_lost is not None:
                    await self._on_lost(s, ident, now, opted_out)
            audit(
                s,
                now,
                "system",
                AuditAction.MESSAGE_FAILED,
                message.person_id,
                message_id=message.id,
                reason=result.reason,
                code=result.code,
                attempts=row.attempts,
            )
            log.warning("gave up on message %s: %s", message.id, result.reason)
            return
        delay = result.retry_after if result.retry_after is not None else self._retry.delay(row.attempts)
        row.next_attempt_at = now + timedelta(seconds=delay)
        log.info("will retry message %s in %.1fs: %s", message.id, delay, result.reason)

    async def run(self, stop: asyncio.Event, idle_seconds: float = 1.0) -> None:
        """Deliver until `stop` is set: one loop per channel, so a slow provider never holds up another."""
        await asyncio.gather(*(self._run_channel(name, stop, idle_seconds) for name in self._channels))

    async def _run_channel(self, name: str, stop: asyncio.Event, idle_seconds: float) -> None:
        wake = self._wakes.setdefault(name, asyncio.Event())
        async with self._leadership(name) as lead:
            while not stop.is_set():
                wake.clear()
                try:
                    if await lead():
                        await self.drain(name)
                except Exception:
                    log.exception("outbox drain of %s failed; will try again", name)
                waiter = asyncio.ensure_future(wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper}, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                waiter.cancel()
                stopper.cancel()

    @asynccontextmanager
    async def _leadership(self, name: str) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
        """One sender per provider across processes, so global rate limits hold.

        On PostgreSQL a session-level advisory lock, held on a connection of its own for as long as
        this process drains `name`; a process that does not hold it keeps asking. SQLite deployments
        are one process, so there is nothing to elect.
        """
        if self._db.is_sqlite:

            async def always() -> bool:
                return True

            yield always
            return
        key = zlib.crc32(f"peerline:outbox:{name}".encode()) & 0x7FFFFFFF
        conn = await self._db.engine.connect()
        held = False

        async def lead() -> bool:
            nonlocal held
            if not held:
                held = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
                await conn.commit()
                if held:
                    log.info("this process now sends %s messages", name)
            return held

        try:
            yield lead
        finally:
            if held:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            await conn.close()
