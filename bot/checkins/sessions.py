"""Starting, reminding and expiring flow sessions, and queuing what the engine says."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.raising import Alerting
from bot.channels.base import Button
from bot.checkins.history import trend_signal
from bot.content import Content
from bot.outbox.queue import queue_message
from bot.people.enrolment import FLOW_FOR_ROLE, UserError
from flows import engine
from flows.engine import Question, Say, SessionState
from flows.model import Audience, Flow
from flows.payloads import answer_payload
from flows.render import render
from storage.models import (
    AuditAction,
    ChannelIdentity,
    ChannelName,
    FlowSession,
    MessageKind,
    Person,
    Role,
    SessionStatus,
)
from storage.repo import active_session, audit, reachable_identity

log = logging.getLogger(__name__)


_AUDIENCE: dict[str, str] = {Audience.PIR: "people in recovery", Audience.FAMILY: "family members"}
_ROLE: dict[str, str] = {
    Role.PIR: "a person in recovery",
    Role.FAMILY: "a family member",
    Role.PEER: "a peer",
    Role.SUPERVISOR: "a supervisor",
    Role.ADMIN: "an admin",
}


class WrongAudienceError(UserError):
    """A flow written for one audience asked of another: a PIR's use and safety questions to a family
    member, or a family member's to a PIR."""


def flow_for(content: Content, person: Person, flow_id: str) -> Flow:
    """The flow `flow_id` if it is written for `person`'s role, else WrongAudienceError naming the right."""
    flow = content.flow(flow_id)
    if flow.is_for(person.role):
        return flow
    right = next((f for r, f in FLOW_FOR_ROLE.items() if r == person.role), None)
    advice = f"use {right}" if right is not None else f"no check-in is written for {person.role}s"
    raise WrongAudienceError(
        f"{flow.id} is written for {_AUDIENCE.get(flow.audience, flow.audience)} and {person.name} "
        f"is {_ROLE.get(person.role, 'a ' + person.role)}: {advice}"
    )


async def queue_outputs(
    s: AsyncSession,
    identity: ChannelIdentity,
    outputs: Iterable[Say | Question],
    kind: MessageKind,
    now: datetime,
    buttons: Mapping[str, bool],
) -> int:
    """Render each engine output for the identity's channel and queue it; returns how many were queued."""
    queued = 0
    with_buttons = buttons.get(identity.channel, False)
    for item in outputs:
        rendered = render(item, buttons=with_buttons, sms=identity.channel == ChannelName.SMS)
        rows: tuple[tuple[Button, ...], ...] = ()
        if isinstance(item, Question):
            rows = tuple(
                tuple(Button(opt.label, answer_payload(item.step_id, opt.payload)) for opt in row)
                for row in rendered.buttons
            )
        if queue_message(s, identity, rendered.text, kind, now, rows) is not None:
            queued += 1
    return queued


async def start_checkin(
    s: AsyncSession,
    content: Content,
    person: Person,
    flow_id: str,
    now: datetime,
    buttons: Mapping[str, bool],
    *,
    local_date: str | None = None,
    actor: str = "system",
) -> FlowSession | None:
    """Open a new session of `flow_id` for `person` and queue its first message.

    A session still open from before is closed as abandoned: the newest check-in is the one that counts.
    Returns None when the person has no channel we may write to; raises WrongAudienceError for a flow that is
    not written for the person's role (every way a check-in starts comes through here).
    """
    assert person.id is not None
    flow = flow_for(content, person, flow_id)
    identity = await reachable_identity(s, person.id)
    if identity is None:
        audit(s, now, actor, AuditAction.CHECKIN_UNREACHABLE, person.id, flow=flow_id)
        return None
    previous = await active_session(s, person.id)
    if previous is not None:
        previous.status = SessionStatus.ABANDONED
        previous.updated_at = now
        audit(
            s,
            now,
            actor,
            AuditAction.CHECKIN_ABANDONED,
            person.id,
            session_id=previous.id,
            flow=previous.flow_id,
        )
    sprint = engine.start(flow, person.locale)
    session = FlowSession(
        person_id=person.id,
        flow_id=flow_id,
        locale=person.locale,
        channel=identity.channel,
        state=sprint.state.to_json(),
        local_date=local_date,
        started_at=now,
        updated_at=now,
        remind_at=now + flow.reminder_after,
        expires_at=now + flow.expires_after,
    )
    s.add(session)
    await s.flush()
    await queue_outputs(s, identity, sprint.outputs, MessageKind.CHECKIN, now, buttons)
    audit(s, now, actor, AuditAction.CHECKIN_STARTED, person.id, session_id=session.id, flow=flow_id)
    return session


async def remind(
    s: AsyncSession, content: Content, session: FlowSession, now: datetime, buttons: Mapping[str, bool]
) -> None:
    """Send the reminder for an unanswered session once."""
    session.remind_at = None
    identity = await reachable_identity(s, session.person_id, prefer=session.channel)
    if identity is None:
        return
    flow = content.flow(session.flow_id)
    sprint = engine.remind(flow, SessionState.from_json(session.state), session.locale)
    await queue_outputs(s, identity, sprint.outputs, MessageKind.CHECKIN, now, buttons)
    audit(s, now, "system", AuditAction.CHECKIN_REMINDED, session.person_id, session_id=session.id)


async def expire(
    s: AsyncSession,
    content: Content,
    session: FlowSession,
    now: datetime,
    buttons: Mapping[str, bool],
    *,
    notify: bool = True,
) -> None:
    """Close a session nobody finished: it counts as missed (an engagement signal). With `notify`, the
    person gets the flow's `expired` text."""
    flow = content.flow(session.flow_id)
    sprint = engine.expire(flow, SessionState.from_json(session.state), session.locale)
    session.state = sprint.state.to_json()
    session.status = SessionStatus.EXPIRED
    session.updated_at = now
    session.remind_at = None
    session.expires_at = None
    identity = await reachable_identity(s, session.person_id, prefer=session.channel) if notify else None
    if identity is not None:
        await queue_outputs(s, identity, sprint.outputs, MessageKind.CHECKIN, now, buttons)
    answered = len([v for v in sprint.state.answers.values() if v is not None])
    audit(
        s,
        now,
        "system",
        AuditAction.CHECKIN_MISSED,
        session.person_id,
        session_id=session.id,
        answered=answered,
    )
    person = await s.get(Person, session.person_id)
    assert person is not None
    signal = await trend_signal(s, person, flow.id, now, content.trends)
    if signal is not None:  # missed or half-finished check-ins, again and again: tell the peer
        await Alerting(content, buttons).raise_alert(
            s,
            subject=person,
            raised_by=person,
            signals=[signal],
            now=now,
            message_id=None,
            session_id=session.id,
            reply_to=None,
        )
