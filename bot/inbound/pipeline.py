"""The inbound pipeline: ONE function every channel hands its messages to (DESIGN.md "Data flow").

In one database transaction it drops duplicates, records the message, resolves the sender, handles
compliance keywords, routes (flow answer, peer command or free text), runs triage, and queues every
reply in the outbox. Nothing is sent here: the outbox sender delivers after commit, so a crash at any
point either loses nothing or redoes everything.

This module is the batching (group commit), the urgent lane and the failed-message path; each step of
one message is a mixin of `Pipeline`: `routing` (sender, then which way), `compliance` (STOP/START/HELP),
`answers` (the open check-in), `relay` (free text), `strangers` (unknown senders), over `turn.Stage`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.lifecycle import Escalation
from bot.alerts.raising import Alerting
from bot.alerts.team import team_of
from bot.channels.base import Inbound
from bot.clock import Clock
from bot.content import Content
from bot.inbound.routing import Routing
from bot.inbound.turn import Lookups, Outcome, Received, Turn, quote, stored_body
from bot.ops.instruments import HANDLING, INBOUND, outcome_label
from bot.outbox.queue import queue_message, queue_to
from bot.staff.commands import PeerCommands
from flows.escalation import Tier
from flows.severity import Severity
from storage.db import Database
from storage.models import (
    AuditAction,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Person,
    Role,
)
from storage.repo import (
    audit,
    identity_for,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Waiting:
    inbound: Inbound
    done: asyncio.Future[Outcome]


def _clean(text: str) -> str:
    # NUL is legal in Telegram JSON and Twilio form data but not in PostgreSQL text; a lone surrogate is
    # not UTF-8 at all. Either would make the database refuse the whole message.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _storable(inbound: Inbound) -> Inbound:
    """The message with any character no database can store replaced (U+FFFD / "?")."""
    text = _clean(inbound.text)
    payload = None if inbound.payload is None else _clean(inbound.payload)
    if text == inbound.text and payload == inbound.payload:
        return inbound
    return replace(inbound, text=text, payload=payload)


def _settle(waiting: _Waiting, result: Outcome | Exception) -> None:
    if waiting.done.done():  # only if cancelled by shutdown
        return
    if isinstance(result, Exception):
        waiting.done.set_exception(result)
    else:
        waiting.done.set_result(result)


class Pipeline(Routing):
    """Turns one `Inbound` into durable state and queued replies.

    Messages that arrive while the database is busy are handled together, in one transaction (group
    commit): each is still processed on its own and in arrival order, but the batch shares the lookups,
    the inserts and the commit. Nobody's reply waits for a timer: a batch is whatever queued up while the
    previous one was being written. A batch that fails is retried message by message, so one bad message
    never takes others down with it. Text that reads as a red flag skips the batch altogether.
    """

    def __init__(
        self,
        db: Database,
        content: Content,
        clock: Clock,
        *,
        buttons: Mapping[str, bool],
        program_name: str = "Peerline",
        support_contact: str = "your peer specialist",
        on_commit: Callable[[bool], None] | None = None,
        max_batch: int = 64,
    ) -> None:
        self._db = db
        self._content = content
        self._clock = clock
        self._buttons = buttons
        self._program = program_name
        self._support = support_contact
        self._on_commit = on_commit
        self._max_batch = max_batch
        self._alerting = Alerting(content, buttons)
        self._peer_commands = PeerCommands(content, Escalation(content, buttons), buttons)
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None
        self._urgent_tasks: set[asyncio.Task[Outcome]] = set()

    async def handle(self, inbound: Inbound) -> Outcome:
        """Process one inbound message exactly once; returns when it is committed."""
        started = time.perf_counter()
        outcome = await self._handle(_storable(inbound))
        HANDLING.labels(inbound.channel).observe(time.perf_counter() - started)
        label = outcome_label(duplicate=outcome.duplicate, alerted=bool(outcome.alert_ids))
        INBOUND.labels(inbound.channel, label).inc()
        return outcome

    async def _handle(self, inbound: Inbound) -> Outcome:
        # Triage is pure and takes microseconds: text that reads as a red flag jumps the writer queue.
        triage = self._content.triage
        severity = triage.assess(inbound.text).severity if inbound.payload is None else Severity.NONE
        if severity.rank() >= Severity.HIGH.rank():
            task = asyncio.create_task(self._handle_urgent(inbound), name="pipeline-urgent")
            self._urgent_tasks.add(task)
            task.add_done_callback(self._urgent_tasks.discard)
            # Shielded like the batches: a caller that stops waiting does not un-handle a crisis.
            return await asyncio.shield(task)
        waiting = _Waiting(inbound, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name="pipeline-batches")
        # Shielded: a caller that stops waiting (a dropped webhook) does not un-handle its message.
        return await asyncio.shield(waiting.done)

    async def _handle_urgent(self, inbound: Inbound) -> Outcome:
        outcome = await self._handle_alone(inbound, urgent=True)
        self._committed([outcome])
        return outcome

    def _committed(self, outcomes: Sequence[Outcome]) -> None:
        if self._on_commit is not None and any(o.queued for o in outcomes):
            self._on_commit(any(o.alert_ids for o in outcomes))

    def _take_batch(self) -> list[_Waiting]:
        """The oldest waiting messages, at most one per address (a second waits for the next batch)."""
        batch: list[_Waiting] = []
        rest: list[_Waiting] = []
        addresses: set[tuple[str, str]] = set()
        for waiting in self._waiting:
            key = (waiting.inbound.channel, waiting.inbound.address)
            if key in addresses or len(batch) >= self._max_batch:
                rest.append(waiting)
            else:
                addresses.add(key)
                batch.append(waiting)
        self._waiting = rest
        return batch

    async def _work(self) -> None:
        batch: list[_Waiting] = []
        # One turn of the event loop first: what arrived alongside the first message joins its batch,
        # and a red flag among it (its own task, on the urgent lane) reaches the writer queue first.
        try:
            await asyncio.sleep(0)
            while self._waiting:
                batch = []
                try:
                    async with self._db.transaction() as s:
                        # Taken once the writer is ours, so the batch holds everything that queued meanwhile.
                        batch = self._take_batch()
                        outcomes = await self._handle_batch(s, [w.inbound for w in batch])
                except Exception as exc:
                    if not batch:  # the transaction never started: fail what waits, with the reason
                        batch = self._take_batch()
                    else:
                        log.warning(
                            "a batch of %d messages failed (%r); handling them one by one", len(batch), exc
                        )
                        await self._one_by_one(batch)
                        continue
                    for waiting in batch:
                        _settle(waiting, exc)
                    continue
                self._committed(outcomes)
                for waiting, outcome in zip(batch, outcomes, strict=True):
                    _settle(waiting, outcome)
        finally:
            # Cancelled (shutdown): whoever still waits hears so instead of hanging.
            for waiting in [*batch, *self._waiting]:
                if not waiting.done.done():
                    waiting.done.cancel()
            self._waiting.clear()

    async def _one_by_one(self, batch: Sequence[_Waiting]) -> None:
        for waiting in batch:
            try:
                outcome = await self._handle_alone(waiting.inbound, urgent=False)
            except Exception as exc:
                _settle(waiting, exc)
                continue
            self._committed([outcome])
            _settle(waiting, outcome)

    async def _handle_alone(self, inbound: Inbound, *, urgent: bool) -> Outcome:
        """One message in its own transaction. If handling it fails for a reason that would fail again
        (a bug, input we cannot read), it is still stored and answered (`_failed`): a poison message is
        never lost and never blocks the next. A database that is down raises, so the provider retries."""
        try:
            return await self._handle_once(inbound, urgent=urgent)
        except Exception as exc:
            if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
                raise
            return await self._failed(inbound, exc)

    async def _failed(self, inbound: Inbound, exc: Exception) -> Outcome:
        """Store a message whose handling failed, tell the sender, and show it to a PIR's peer."""
        log.error("handling message %s failed: %r", inbound.provider_id, exc, exc_info=exc)
        messages = self._content.messages
        async with self._db.transaction() as s:
            if inbound.provider_id is not None and await self._seen(s, [inbound.provider_id]):
                return Outcome(duplicate=True)  # stored after all (the failure came later)
            now = self._clock.now()
            identity = await identity_for(s, inbound.channel, inbound.address)
            person = await s.get(Person, identity.person_id) if identity is not None else None
            body = stored_body(inbound)
            message = Message(
                direction=Direction.INBOUND,
                channel=inbound.channel,
                address=inbound.address,
                person_id=person.id if person is not None else None,
                body=body,
                kind=MessageKind.TEXT,
                provider_id=inbound.provider_id,
                status=MessageStatus.RECEIVED,
                error_code="unprocessed",
                created_at=now,
                updated_at=now,
            )
            s.add(message)
            await s.flush()
            outcome = Outcome(message_id=message.id, person_id=message.person_id)
            audit(
                s,
                now,
                f"person:{person.id}" if person is not None else "unknown",
                AuditAction.MESSAGE_UNPROCESSED,
                message.person_id,
                message_id=message.id,
                channel=inbound.channel,
                error=type(exc).__name__,
            )
            told_peer = 0
            if person is not None and person.id is not None and person.role == Role.PIR:
                peer = (await team_of(s, person.id)).get(Tier.PEER)
                if peer is not None:
                    note = messages.text(
                        "peer_told_unprocessed", peer.locale, name=person.name, text=quote(inbound.text)
                    )
                    told_peer = await self._alerting.notify(s, peer, note, MessageKind.RELAY, now)
            outcome.queued += told_peer
            locale = person.locale if person is not None else "en"
            text = messages.text("could_not_read_peer" if told_peer else "could_not_read", locale)
            if identity is not None:
                outcome.queued += queue_message(s, identity, text, MessageKind.REPLY, now) is not None
            else:
                queue_to(
                    s,
                    channel=inbound.channel,
                    address=inbound.address,
                    person_id=None,
                    text=text,
                    kind=MessageKind.REPLY,
                    now=now,
                )
                outcome.queued += 1
        return outcome

    async def _handle_once(self, inbound: Inbound, *, urgent: bool) -> Outcome:
        try:
            async with self._db.transaction(urgent=urgent) as s:
                return (await self._handle_batch(s, [inbound]))[0]
        except IntegrityError:
            # Two workers raced on the same provider id: the other one won and handled it.
            if inbound.provider_id is not None:
                async with self._db.transaction() as s:
                    if await self._seen(s, [inbound.provider_id]):
                        return Outcome(duplicate=True)
            raise

    async def _handle_batch(self, s: AsyncSession, inbounds: Sequence[Inbound]) -> list[Outcome]:
        """Steps 1-7 of the data flow for each message, in order, sharing one transaction."""
        now = self._clock.now()
        seen = await self._seen(s, [i.provider_id for i in inbounds if i.provider_id is not None])
        lookups = Lookups(s)
        fresh = [i for i in inbounds if i.provider_id not in seen]
        if fresh:
            await lookups.prefetch(fresh)
        turns: list[Turn | None] = []
        rows: list[dict[str, object]] = []
        for inbound in inbounds:
            if inbound.provider_id in seen:
                turns.append(None)
                continue
            if inbound.provider_id is not None:
                seen.add(inbound.provider_id)  # a repeat later in this batch is a duplicate too
            identity = await lookups.identity(inbound.channel, inbound.address)
            person_id = identity.person_id if identity is not None else None
            kind = MessageKind.TEXT if inbound.payload is None else MessageKind.ANSWER
            body = stored_body(inbound)
            rows.append(
                {
                    "direction": Direction.INBOUND,
                    "channel": inbound.channel,
                    "address": inbound.address,
                    "person_id": person_id,
                    "body": body,
                    "kind": kind,
                    "provider_id": inbound.provider_id,
                    "status": MessageStatus.RECEIVED,
                    "error_code": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            turns.append(Turn(s, inbound, Received(0, person_id, kind), now, Outcome(), lookups))
        if rows:
            # One INSERT for every message of the batch; their ids go into audit records.
            conn = await s.connection()
            ids = await conn.execute(
                insert(Message).returning(col(Message.id), sort_by_parameter_order=True), rows
            )
            fresh_turns = [turn for turn in turns if turn is not None]
            for fresh_turn, new_id in zip(fresh_turns, ids.scalars(), strict=True):
                assert new_id is not None
                fresh_turn.message.id = new_id
        outcomes: list[Outcome] = []
        for turn in turns:
            if turn is None:
                outcomes.append(Outcome(duplicate=True))
                continue
            turn.outcome.message_id = turn.message.id
            await self._process(turn)
            outcomes.append(turn.outcome)
        return outcomes

    @staticmethod
    async def _seen(s: AsyncSession, provider_ids: Sequence[str]) -> set[str | None]:
        if not provider_ids:
            return set()
        found = await s.scalars(
            select(col(Message.provider_id)).where(col(Message.provider_id).in_(provider_ids))
        )
        return set(found)

    # -- peer commands ----------------------------------------------------------------------------

    # -- senders we do not know -------------------------------------------------------------------

    # -- compliance keywords ----------------------------------------------------------------------

    # -- flow answers -----------------------------------------------------------------------------

    # -- free text --------------------------------------------------------------------------------

    # -- alerts -----------------------------------------------------------------------------------
