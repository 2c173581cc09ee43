"""Answers to an open check-in: the engine, the signals, held pages, replies that are no answer."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.alerts.raising import Signal
from bot.checkins.history import TREND_STEPS
from bot.checkins.onboarding import ONBOARDING, apply_onboarding
from bot.checkins.sessions import queue_outputs
from bot.inbound.relay import Relaying
from bot.inbound.turn import Turn
from flows import engine
from flows.engine import Flagged, FreeText, GaveUp, Halted, Reasked, SessionState, Sprint
from flows.model import Flow, StepType
from flows.parsing import reads_as_message
from flows.payloads import split_answer
from flows.severity import Severity
from storage.appends import appends
from storage.models import Alert, AlertStatus, AuditAction, FlowSession, MessageKind, SessionStatus, score_of
from storage.repo import audit

CHECKIN_HOLD = timedelta(minutes=3)
"""How long a page about a check-in answer waits for the rest of the check-in (one check-in, one page).
A crisis never waits; a person who stops answering is paged when the hold runs out."""


class Answers(Relaying):
    """A reply to the open flow session, through the engine; its signals raise one alert per check-in."""

    async def _answer(self, turn: Turn, session: FlowSession) -> None:
        s, inbound, person, identity = turn.s, turn.inbound, turn.person, turn.identity
        assert (
            person is not None and person.id is not None and identity is not None and session.id is not None
        )
        flow = self._content.flow(session.flow_id)
        state = SessionState.from_json(session.state)
        value: str | None = None
        if inbound.payload is not None:
            parts = split_answer(inbound.payload)
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
                    "score": score_of(answer.value),
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

    async def _release_held(self, turn: Turn, session_id: int) -> None:
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
        self, turn: Turn, flow: Flow, state: SessionState, sprint: Sprint, locale: str
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

    async def _stale_button(self, turn: Turn, session: FlowSession, state: SessionState) -> None:
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
