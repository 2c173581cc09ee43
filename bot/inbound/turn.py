"""One inbound message's turn through the pipeline: what it did, its stored row, the batch's lookups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.raising import Alerting, Signal
from bot.channels.base import Inbound
from bot.checkins.history import TrendHistory, load_histories
from bot.content import Content
from bot.outbox.queue import queue_message
from flows.severity import Severity
from flows.trends import TrendThresholds
from storage.models import ChannelIdentity, FlowSession, Message, MessageKind, Person, Role, SessionStatus
from storage.repo import active_session, identity_for, identity_in, supported_pir_id


@dataclass(slots=True)
class Outcome:
    """What handling one inbound message did (for callers, tests and benchmarks)."""

    duplicate: bool = False
    message_id: int | None = None
    person_id: int | None = None
    queued: int = 0
    alert_ids: list[int] = field(default_factory=list)
    severity: Severity = Severity.NONE


class Lookups:
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
class Received:
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
class Turn:
    s: AsyncSession
    inbound: Inbound
    message: Received
    now: datetime
    outcome: Outcome
    lookups: Lookups
    identity: ChannelIdentity | None = None
    person: Person | None = None

    @property
    def locale(self) -> str:
        return self.person.locale if self.person is not None else "en"


def stored_body(inbound: Inbound) -> str:
    """What contact history keeps of an inbound message: its text, and a button's payload."""
    return inbound.text if inbound.payload is None else f"{inbound.text} [{inbound.payload}]"


def quote(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Stage:
    """What every step of the inbound path shares: the content, the wording, alert raising, the reply.

    `Pipeline.__init__` sets these; each step is a mixin over `Stage`, and `Pipeline` is all of them.
    """

    _content: Content
    _buttons: Mapping[str, bool]
    _program: str
    _support: str
    _alerting: Alerting

    async def _subject_pir(self, turn: Turn) -> Person | None:
        """The PIR a message is about: the sender, or for a family member the PIR they support."""
        person = turn.person
        assert person is not None and person.id is not None
        if person.role != Role.FAMILY:
            return person
        pir_id = await supported_pir_id(turn.s, person.id, turn.now)
        return await turn.s.get(Person, pir_id) if pir_id is not None else None

    async def _raise(
        self,
        turn: Turn,
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

    async def _reply(self, turn: Turn, text: str, kind: MessageKind) -> None:
        assert turn.identity is not None
        if queue_message(turn.s, turn.identity, text, kind, turn.now) is not None:
            turn.outcome.queued += 1
