"""The inbound pipeline: ONE function every channel hands its messages to (DESIGN.md "Data flow").

In one database transaction it drops duplicates, records the message, resolves the sender, handles
compliance keywords, routes (flow answer, peer command or free text), runs triage, and queues every
reply in the outbox. Nothing is sent here: the outbox sender delivers after commit, so a crash at any
point either loses nothing or redoes everything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.lifecycle import Escalation, reachable, team_of
from bot.alerts.raising import Alerting, Signal, reply_key
from bot.channels.base import Inbound
from bot.checkins.history import TREND_STEPS, TrendHistory, load_histories
from bot.checkins.onboarding import ONBOARDING, apply_onboarding
from bot.checkins.sessions import queue_outputs, split_payload
from bot.clock import Clock
from bot.content import Content
from bot.outbox.queue import queue_message, queue_to
from bot.people.audience import audience_text
from bot.people.invites import redeem_invite, start_code
from bot.people.lost_contact import tell_team
from bot.staff.caseload import STAFF
from bot.staff.commands import PeerCommands
from bot.staff.grammar import looks_like_command
from flows import engine
from flows.engine import Flagged, FreeText, GaveUp, Halted, Reasked, SessionState, Sprint
from flows.escalation import FALLBACK_TIERS, Tier
from flows.keywords import Keyword, classify
from flows.model import Flow, StepType
from flows.numbers import parse_id
from flows.parsing import reads_as_message
from flows.severity import Severity
from flows.trends import TrendThresholds
from storage.appends import appends
from storage.db import Database
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    ChannelIdentity,
    Direction,
    FlowSession,
    Message,
    MessageKind,
    MessageStatus,
    Person,
    Role,
    SessionStatus,
    fold_name,
)
from storage.repo import (
    active_links_of_family,
    active_session,
    audit,
    identity_for,
    identity_in,
)

log = logging.getLogger(__name__)

STRANGER_REPLY_EVERY = timedelta(days=1)
"""An unknown address is told who we are at most this often (a crisis is always answered)."""

CHECKIN_HOLD = timedelta(minutes=3)
"""How long a page about a check-in answer waits for the rest of the check-in (one check-in, one page).
A crisis never waits; a person who stops answering is paged when the hold runs out."""


@dataclass(slots=True)
class Outcome:
    """What handling one inbound message did (for callers, tests and benchmarks)."""

    duplicate: bool = False
    message_id: int | None = None
    person_id: int | None = None
    queued: int = 0
    alert_ids: list[int] = field(default_factory=list)
    severity: Severity = Severity.NONE


class _Lookups:
    """Who sent a message and their open session: prefetched for a whole batch, or queried one by one.

    A batch holds at most one message per address, so what was prefetched for a message's sender can
    only have changed in this transaction through the very objects cached here (the session's identity
    map); sessions are never opened by the pipeline itself.
    """

    def __init__(self, s: AsyncSession) -> None:
        self._s = s
        self._identities: dict[tuple[str, str], ChannelIdentity | None] = {}
        self._people: dict[int, Person] = {}
        self._sessions: dict[int, list[FlowSession]] = {}
        self._trends: dict[str, dict[int, TrendHistory]] = {}

    async def prefetch(self, inbounds: Sequence[Inbound]) -> None:
        for inbound in inbounds:
            self._identities[(inbound.channel, inbound.address)] = None
        found = await self._s.execute(
            select(ChannelIdentity, Person)
            .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
            .where(identity_in(self._identities))
        )
        for identity, person in found:
            assert person.id is not None
            self._identities[(identity.channel, identity.address)] = identity
            self._people[person.id] = person
        person_ids = set(self._people)
        if not person_ids:
            return
        sessions = await self._s.scalars(
            select(FlowSession)
            .where(
                col(FlowSession.person_id).in_(person_ids), col(FlowSession.status) == SessionStatus.ACTIVE
            )
            .order_by(col(FlowSession.id).desc())
        )
        for person_id in person_ids:
            self._sessions[person_id] = []
        for session in sessions:
            self._sessions[session.person_id].append(session)

    async def identity(self, channel: str, address: str) -> ChannelIdentity | None:
        key = (channel, address)
        if key in self._identities:
            return self._identities[key]
        return await identity_for(self._s, channel, address)

    async def trend_history(
        self, person_id: int, flow_id: str, now: datetime, thresholds: TrendThresholds
    ) -> TrendHistory:
        """Read once per batch and flow, for everyone in the batch with that flow open."""
        loaded = self._trends.get(flow_id)
        if loaded is None or person_id not in loaded:
            people = {
                pid for pid, open_ in self._sessions.items() if any(x.flow_id == flow_id for x in open_)
            }
            loaded = await load_histories(self._s, people | {person_id}, flow_id, now, thresholds)
            self._trends[flow_id] = {**self._trends.get(flow_id, {}), **loaded}
        return loaded[person_id]

    async def person(self, person_id: int) -> Person | None:
        found = self._people.get(person_id)
        return found if found is not None else await self._s.get(Person, person_id)

    async def active_session(self, person_id: int) -> FlowSession | None:
        if person_id not in self._sessions:
            return await active_session(self._s, person_id)
        # The newest one still active: an earlier message in this batch may have completed one.
        return next((x for x in self._sessions[person_id] if x.status == SessionStatus.ACTIVE), None)


@dataclass(slots=True)
class _Received:
    """The inbound message's row, inserted with its batch."""

    id: int
    person_id: int | None
    kind: MessageKind

    async def update(
        self, s: AsyncSession, *, person_id: int | None = None, kind: MessageKind | None = None
    ) -> None:
        self.person_id = person_id if person_id is not None else self.person_id
        self.kind = kind if kind is not None else self.kind
        await s.execute(
            update(Message).where(col(Message.id) == self.id).values(person_id=self.person_id, kind=self.kind)
        )


@dataclass(slots=True)
class _Turn:
    s: AsyncSession
    inbound: Inbound
    message: _Received
    now: datetime
    outcome: Outcome
    lookups: _Lookups
    identity: ChannelIdentity | None = None
    person: Person | None = None

    @property
    def locale(self) -> str:
        return self.person.locale if self.person is not None else "en"


@dataclass(slots=True)
class _Waiting:
    inbound: Inbound
    done: asyncio.Future[Outcome]


def _clean(text: str) -> str:
    # NUL is legal in Telegram JSON and Twilio form data but not in PostgreSQL text; a lone surrogate is
    # not UTF-8 at all. Either would make the database refuse the whole message.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _body(inbound: Inbound) -> str:
    """What contact history keeps of an inbound message: its text, and a button's payload."""
    return inbound.text if inbound.payload is None else f"{inbound.text} [{inbound.payload}]"


def _quote(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


class Pipeline:
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
        inbound = _storable(inbound)
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
            body = _body(inbound)
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
                        "peer_told_unprocessed", peer.locale, name=person.name, text=_quote(inbound.text)
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
        lookups = _Lookups(s)
        fresh = [i for i in inbounds if i.provider_id not in seen]
        if fresh:
            await lookups.prefetch(fresh)
        turns: list[_Turn | None] = []
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
            body = _body(inbound)
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
            turns.append(_Turn(s, inbound, _Received(0, person_id, kind), now, Outcome(), lookups))
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

    async def _process(self, turn: _Turn) -> None:
        s, inbound = turn.s, turn.inbound
        identity = await turn.lookups.identity(inbound.channel, inbound.address)
        if identity is None:
            await self._unknown_sender(turn)
            return
        person = await turn.lookups.person(identity.person_id)
        assert person is not None and person.id is not None
        turn.identity, turn.person = identity, person
        turn.outcome.person_id = person.id
        audit(
            s,
            turn.now,
            f"person:{person.id}",
            AuditAction.MESSAGE_RECEIVED,
            person.id,
            message_id=turn.message.id,
        )
        if identity.unreachable_at is not None:
            # They wrote from it, so it works again (a bot unblocked, a phone back on the network).
            identity.unreachable_at = None
            audit(
                s,
                turn.now,
                "system",
                AuditAction.IDENTITY_REACHABLE_AGAIN,
                person.id,
                channel=identity.channel,
            )

        staff = person.role in STAFF
        keyword = None
        if inbound.payload is None:
            keyword = classify(
                inbound.text, opted_out=identity.opted_out_at is not None, staff=staff, locale=person.locale
            )
        maybe_stop = False
        if keyword is Keyword.MAYBE_STOP and not staff:
            # Handled as usual, then asked about; "REPLY Alex please don't text me…" is refused as a
            # command and never read as an opt-out at all.
            maybe_stop, keyword = not looks_like_command(inbound.text, inbound.payload), None
        if keyword is not None:
            await self._keyword(turn, keyword)
            return
        if staff or looks_like_command(inbound.text, inbound.payload):
            await self._peer_command(turn)
            return
        session = await turn.lookups.active_session(person.id)
        if session is not None and (inbound.payload is not None or identity.opted_out_at is None):
            await self._answer(turn, session)
        else:
            await self._free_text(turn)
        # A request to stop inside a longer message: handled as usual above, and asked about, unless
        # the person is already opted out or wrote something a human is now answering.
        answered_by_a_human = turn.outcome.severity.rank() >= Severity.HIGH.rank()
        if maybe_stop and identity.opted_out_at is None and not answered_by_a_human:
            text = self._content.messages.text("maybe_stop", person.locale)
            await self._reply(turn, text, MessageKind.REPLY)  # after the reply to the message itself

    # -- peer commands ----------------------------------------------------------------------------

    async def _peer_command(self, turn: _Turn) -> None:
        """Staff commands and alert buttons (`bot.staff.commands`); anyone else trying one is refused."""
        person, identity, inbound = turn.person, turn.identity, turn.inbound
        assert person is not None and identity is not None
        turn.outcome.queued += await self._peer_commands.handle(
            turn.s, person, identity, inbound.text, inbound.payload, turn.now
        )
        if person.role not in STAFF and inbound.payload is None:
            # Refused, but still read: a crisis written as a command is still a crisis.
            await self._triage_free_text(turn, inbound.text, relay=False)

    # -- senders we do not know -------------------------------------------------------------------

    async def _unknown_sender(self, turn: _Turn) -> None:
        inbound = turn.inbound
        code = start_code(inbound.text)
        if code is not None:
            await self._join_by_invite(turn, code)
            return
        # Every message from an address we do not know is on the audit trail, with where it came from;
        # an attempt at a person's record ("@Alex hi", "#12 hi", a command) names whom it was about.
        attempt = looks_like_command(inbound.text, inbound.payload) or inbound.text.lstrip()[:1] in ("@", "#")
        about = await self._about(turn) if attempt else None
        audit(
            turn.s,
            turn.now,
            "unknown",
            AuditAction.PEER_COMMAND_REFUSED if attempt else AuditAction.STRANGER_MESSAGE,
            about,
            channel=inbound.channel,
            address=inbound.address,
            message_id=turn.message.id,
        )
        result = self._content.triage.assess(inbound.text)
        turn.outcome.severity = result.severity
        messages = self._content.messages
        if result.severity is Severity.CRITICAL:
            # Nobody's care team: the program's on-call hears of it, and only then is it promised.
            paged = await self._alerting.escalation.page_on_call(
                turn.s,
                lambda staff: messages.text(
                    "stranger_in_crisis",
                    staff.locale,
                    channel=messages.text(f"channel_{inbound.channel}", staff.locale),
                    address=inbound.address,
                    text=_quote(inbound.text),
                ),
                turn.now,
                what="stranger_in_crisis",
            )
            turn.outcome.queued += len(paged)
            signal = Signal.from_triage(result, inbound.text)
            key = reply_key([signal], family=False) or "crisis"
            promise = messages.text("promise_team", "en") if paged else ""
            # We do not know their language: the resources in Spanish too.
            text = (
                messages.text(key, "en", promise=promise) + "\n" + messages.text("crisis_stranger_es", "es")
            )
            kind = MessageKind.CRISIS
            audit(
                turn.s,
                turn.now,
                "system",
                AuditAction.CRISIS_UNKNOWN_SENDER,
                None,
                channel=inbound.channel,
                categories=list(result.categories),
                paged=[p.id for p in paged],
            )
        else:
            if await self._explained_lately(turn):
                # One explanation a day per address: a flood from one unknown chat is stored, not
                # answered, so it cannot crowd out anyone's check-in.
                audit(
                    turn.s,
                    turn.now,
                    "unknown",
                    AuditAction.STRANGER_NOT_ANSWERED,
                    None,
                    channel=inbound.channel,
                )
                return
            text = messages.text("unknown_sender", "en", program=self._program)
            kind = MessageKind.SYSTEM
        self._reply_to_stranger(turn, text, kind)

    async def _about(self, turn: _Turn) -> int | None:
        """The person a stranger's "@Name …", "#12 …" or command names, when it names one."""
        words = turn.inbound.text.split()
        target = next((w for w in words[:2] if w[:1] in ("@", "#") or parse_id(w) is not None), None)
        if target is None:
            return None
        number = parse_id(target.lstrip("@#"))
        if target.startswith("@") and number is None:
            found = await turn.s.scalars(
                select(col(Person.id)).where(col(Person.name_key) == fold_name(target[1:])).limit(2)
            )
            ids = found.all()
            return ids[0] if len(ids) == 1 else None
        if number is None:
            return None
        if target.startswith("@"):
            return number if await turn.s.get(Person, number) is not None else None
        alert = await turn.s.get(Alert, number)  # "#12" and "ACK 12" name an alert
        return alert.person_id if alert is not None else None

    async def _explained_lately(self, turn: _Turn) -> bool:
        """Whether this unknown address was already told who we are in the last day."""
        since = turn.now - STRANGER_REPLY_EVERY
        found = await turn.s.scalars(
            select(col(Message.id))
            .where(
                col(Message.channel) == turn.inbound.channel,
                col(Message.address) == turn.inbound.address,
                col(Message.direction) == Direction.OUTBOUND,
                col(Message.person_id).is_(None),
                col(Message.kind) == MessageKind.SYSTEM,
                col(Message.created_at) > since,
            )
            .limit(1)
        )
        return found.first() is not None

    def _reply_to_stranger(self, turn: _Turn, text: str, kind: MessageKind) -> None:
        """Answer an address we know no person for (there is no identity to queue to)."""
        queue_to(
            turn.s,
            channel=turn.inbound.channel,
            address=turn.inbound.address,
            person_id=None,
            text=text,
            kind=kind,
            now=turn.now,
        )
        turn.outcome.queued += 1

    async def _join_by_invite(self, turn: _Turn, code: str) -> None:
        """`/start <code>` from an invite link: link this chat to the invited person, or explain kindly."""
        inbound, messages = turn.inbound, self._content.messages
        joined = await redeem_invite(turn.s, code, inbound.channel, inbound.address, turn.now)
        if joined is None:
            text = messages.text("invite_invalid", "en", program=self._program)
            self._reply_to_stranger(turn, text, MessageKind.SYSTEM)
            return
        turn.person, turn.identity = joined
        turn.outcome.person_id = turn.person.id
        await turn.message.update(turn.s, person_id=turn.person.id)
        person = turn.person
        text = audience_text(
            messages, "opted_in", person.role, inbound.channel, person.locale, program=self._program
        )
        await self._reply(turn, text, MessageKind.KEYWORD)

    # -- compliance keywords ----------------------------------------------------------------------

    async def _keyword(self, turn: _Turn, keyword: Keyword) -> None:
        s, identity, person = turn.s, turn.identity, turn.person
        assert identity is not None and person is not None and person.id is not None
        messages = self._content.messages

        def worded(key: str) -> str:  # for their audience (PIR, family, staff) and channel (SMS or chat)
            return audience_text(
                messages,
                key,
                person.role,
                identity.channel,
                person.locale,
                program=self._program,
                support=self._support,
            )

        await turn.message.update(s, kind=MessageKind.KEYWORD)
        if keyword is Keyword.STOP:
            # A crisis inside a STOP is still a crisis: answer it before going quiet.
            await self._triage_free_text(turn, turn.inbound.text, relay=False)
            if identity.opted_out_at is None:
                identity.opted_out_at = turn.now
                audit(
                    s,
                    turn.now,
                    f"person:{person.id}",
                    AuditAction.CONSENT_OPTED_OUT,
                    person.id,
                    channel=identity.channel,
                )
                turn.outcome.queued += await tell_team(s, messages, identity, turn.now, opted_out=True)
                # One confirmation, then silence: a repeated STOP is recorded but not answered.
                await self._reply(turn, worded("opted_out"), MessageKind.KEYWORD)
        elif keyword is Keyword.START:
            if identity.opted_out_at is not None:
                identity.opted_out_at = None
                audit(
                    s,
                    turn.now,
                    f"person:{person.id}",
                    AuditAction.CONSENT_OPTED_IN,
                    person.id,
                    channel=identity.channel,
                )
            identity.consent_at = turn.now
            await self._reply(turn, worded("opted_in"), MessageKind.KEYWORD)
        elif keyword is Keyword.MAYBE_STOP:  # staff asking in words: they opt out with the keyword only
            await self._reply(turn, worded("maybe_stop"), MessageKind.KEYWORD)
        elif person.role in STAFF:  # HELP: who we are, and the commands they work with
            text = f"{worded('help')}\n{messages.text('peer_commands', person.locale)}"
            await self._reply(turn, text, MessageKind.KEYWORD)
        else:
            await self._reply(turn, worded("help"), MessageKind.KEYWORD)

    # -- flow answers -----------------------------------------------------------------------------

    async def _answer(self, turn: _Turn, session: FlowSession) -> None:
        s, inbound, person, identity = turn.s, turn.inbound, turn.person, turn.identity
        assert (
            person is not None and person.id is not None and identity is not None and session.id is not None
        )
        flow = self._content.flow(session.flow_id)
        state = SessionState.from_json(session.state)
        value: str | None = None
        if inbound.payload is not None:
            parts = split_payload(inbound.payload)
            if parts is None or parts[0] != state.step_id:
                await self._stale_button(turn, session, state)
                return
            value = parts[1]
        sprint = engine.resume(flow, state, inbound.text, session.locale, payload=value)
        if await self._message_not_answer(turn, flow, state, sprint, session.locale):
            return
        signals, alarming = self._signals(sprint, session.locale)
        if any(sig.severity is Severity.CRITICAL for sig in signals):
            # A crisis ends the check-in's questions: the crisis reply comes next, then a human.
            sprint = engine.halt(sprint)
        for answer in sprint.answers:
            appends(s).answers.append(
                {
                    "session_id": session.id,
                    "person_id": person.id,
                    "flow_id": flow.id,
                    "step_id": answer.step_id,
                    "value": answer.value,
                    "raw": answer.raw,
                    "answered_at": turn.now,
                }
            )
        session.state = sprint.state.to_json()
        session.updated_at = turn.now
        if sprint.state.done:
            halted = any(isinstance(event, Halted) for event in sprint.events)
            session.status = SessionStatus.STOPPED if halted else SessionStatus.COMPLETED
            session.remind_at = None
            session.expires_at = None
            if halted:
                audit(
                    s,
                    turn.now,
                    "system",
                    AuditAction.CHECKIN_STOPPED,
                    person.id,
                    session_id=session.id,
                    why="crisis",
                )
            if flow.id == ONBOARDING and not halted:
                await apply_onboarding(s, person, identity, sprint.state.answers, turn.now)
        if sprint.state.done and any(step.id in TREND_STEPS for step in flow.steps):
            thresholds = self._content.trends
            history = await turn.lookups.trend_history(person.id, flow.id, turn.now, thresholds)
            flagged = engine.flagged_steps(flow, sprint.state.answers)
            trend = history.signal(
                person, turn.now, thresholds, sprint.state.answers, newest=session, already_flagged=flagged
            )
            if trend is not None:
                signals.append(trend)
        if signals:
            # While the check-in goes on, its page waits for the rest of it: one check-in, one page.
            hold = None if sprint.state.done else turn.now + CHECKIN_HOLD
            await self._raise(turn, signals, session_id=session.id, hold_until=hold)
        if sprint.state.done:
            await self._release_held(turn, session.id)
        for answer in sprint.answers:
            # What the person wrote for their peer reaches the peer; an alert already carries alarming text.
            note = answer.value
            is_text = flow.step(answer.step_id).type is StepType.TEXT
            if is_text and isinstance(note, str) and note.strip() and note not in alarming:
                await self._relay(turn, note, acknowledge=False)
        turn.outcome.queued += await queue_outputs(
            s, identity, sprint.outputs, MessageKind.REPLY, turn.now, self._buttons
        )

    def _signals(self, sprint: Sprint, locale: str) -> tuple[list[Signal], set[str]]:
        """The signals of one answer: the flow's rules, and triage of any text written (with that text)."""
        signals: list[Signal] = []
        alarming: set[str] = set()
        for event in sprint.events:
            if isinstance(event, Flagged):
                signals.append(
                    Signal(
                        Severity(event.severity), (event.category,), (event.reason,), unclear=event.unclear
                    )
                )
            elif isinstance(event, FreeText):
                result = self._content.triage.assess(event.text, locale)
                if result.severity is not Severity.NONE:
                    signals.append(Signal.from_triage(result, event.text))
                    alarming.add(event.text)
        return signals, alarming

    async def _release_held(self, turn: _Turn, session_id: int) -> None:
        """The check-in is over: an alert whose first page waited for it is paged now, with it all."""
        held = await turn.s.scalars(
            select(Alert).where(
                col(Alert.session_id) == session_id,
                col(Alert.status) == AlertStatus.OPEN,
                col(Alert.escalation_level) == 0,
            )
        )
        for alert in held.all():
            started = await self._alerting.escalation.release(turn.s, alert, turn.now)
            turn.outcome.queued += started.queued

    async def _message_not_answer(
        self, turn: _Turn, flow: Flow, state: SessionState, sprint: Sprint, locale: str
    ) -> bool:
        """A reply that is no answer but reads as a message ("can you call me later?") is for the peer.

        It is passed on (the sender is told so) and the question is simply asked again: it does not
        count as a wrong answer, so writing to the peer never uses up the check-in's re-asks. Text that
        triage flags takes the usual way instead (alert, crisis reply).
        """
        if not any(isinstance(event, Reasked | GaveUp) for event in sprint.events):
            return False
        text = next((event.text for event in sprint.events if isinstance(event, FreeText)), None)
        if text is None or not reads_as_message(text):
            return False
        if self._content.triage.assess(text, locale).severity is not Severity.NONE:
            return False
        assert turn.identity is not None
        await self._relay(turn, text)
        question = engine.current_question(flow, state, locale)
        if question is not None:
            turn.outcome.queued += await queue_outputs(
                turn.s, turn.identity, [question], MessageKind.REPLY, turn.now, self._buttons
            )
        return True

    async def _stale_button(self, turn: _Turn, session: FlowSession, state: SessionState) -> None:
        assert turn.identity is not None
        flow = self._content.flow(session.flow_id)
        question = engine.current_question(flow, state, session.locale)
        await self._reply(
            turn, self._content.messages.text("stale_button", session.locale), MessageKind.REPLY
        )
        if question is not None:
            turn.outcome.queued += await queue_outputs(
                turn.s, turn.identity, [question], MessageKind.REPLY, turn.now, self._buttons
            )

    # -- free text --------------------------------------------------------------------------------

    async def _free_text(self, turn: _Turn) -> None:
        await self._triage_free_text(turn, turn.inbound.text, relay=True)

    async def _triage_free_text(self, turn: _Turn, text: str, *, relay: bool) -> None:
        person = turn.person
        assert person is not None and person.id is not None
        result = self._content.triage.assess(text, person.locale)
        alerted = False
        if result.severity is not Severity.NONE:
            alerted = await self._raise(turn, [Signal.from_triage(result, text)], session_id=None)
        if relay and not alerted:
            await self._relay(turn, text)

    async def _relay(self, turn: _Turn, text: str, *, acknowledge: bool = True) -> None:
        """Pass a message that is not an answer to the person's peer (else the first of their care team
        who can be reached), named, and tell the sender truthfully who has it."""
        s, person = turn.s, turn.person
        assert person is not None and person.id is not None
        messages = self._content.messages
        subject = await self._subject_pir(turn)
        team = await team_of(s, subject.id) if subject is not None and subject.id is not None else {}
        if not any(team.values()):
            audit(s, turn.now, "system", AuditAction.RELAY_NO_PEER, person.id, message_id=turn.message.id)
            if acknowledge:
                await self._reply(turn, messages.text("relay_no_peer", person.locale), MessageKind.REPLY)
            return
        to: Person | None = None
        for tier in FALLBACK_TIERS:
            identity, _ = await reachable(s, team.get(tier))
            if identity is not None:
                to = team[tier]
                break
        if to is None or to.id is None:
            # Kept in the history, but nobody can be told now: say so, and where help is.
            audit(
                s,
                turn.now,
                "system",
                AuditAction.RELAY_NOBODY_REACHABLE,
                person.id,
                message_id=turn.message.id,
            )
            if acknowledge:
                await self._reply(turn, messages.text("relay_unreachable", person.locale), MessageKind.REPLY)
            return
        if person.role == Role.FAMILY and subject is not None:
            body = messages.text(
                "relay_to_peer_family", to.locale, name=person.name, pir=subject.name, text=text
            )
        else:
            body = messages.text(
                "relay_to_peer", to.locale, name=person.name, role=person.role.upper(), text=text
            )
        turn.outcome.queued += await self._alerting.notify(s, to, body, MessageKind.RELAY, turn.now)
        audit(
            s,
            turn.now,
            f"person:{person.id}",
            AuditAction.RELAY_TO_PEER,
            person.id,
            peer_id=to.id,
            message_id=turn.message.id,
        )
        if acknowledge:
            peer = team.get(Tier.PEER)
            key = "relay_sent" if peer is not None and to.id == peer.id else "relay_sent_team"
            await self._reply(turn, messages.text(key, person.locale, peer=to.name), MessageKind.REPLY)

    async def _subject_pir(self, turn: _Turn) -> Person | None:
        """The PIR a message is about: the sender, or for a family member their linked PIR."""
        person = turn.person
        assert person is not None and person.id is not None
        if person.role != Role.FAMILY:
            return person
        links = await active_links_of_family(turn.s, person.id, turn.now)
        return await turn.s.get(Person, links[0].pir_id) if links else None

    # -- alerts -----------------------------------------------------------------------------------

    async def _raise(
        self,
        turn: _Turn,
        signals: list[Signal],
        session_id: int | None,
        *,
        hold_until: datetime | None = None,
    ) -> bool:
        """Create the alert for these signals; a critical one gets crisis resources to the sender first."""
        person, identity = turn.person, turn.identity
        assert person is not None and identity is not None
        subject = await self._subject_pir(turn)
        raised = await self._alerting.raise_alert(
            turn.s,
            subject=subject or person,
            raised_by=person,
            signals=signals,
            now=turn.now,
            message_id=turn.message.id,
            session_id=session_id,
            reply_to=identity,
            hold_until=hold_until,
        )
        turn.outcome.severity = max(turn.outcome.severity, raised.severity, key=Severity.rank)
        turn.outcome.queued += raised.queued
        if raised.alert_id is not None:
            turn.outcome.alert_ids.append(raised.alert_id)
        return raised.alert_id is not None and raised.severity is not Severity.MEDIUM

    async def _reply(self, turn: _Turn, text: str, kind: MessageKind) -> None:
        assert turn.identity is not None
        if queue_message(turn.s, turn.identity, text, kind, turn.now) is not None:
            turn.outcome.queued += 1
