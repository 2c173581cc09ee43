"""Senders we do not know: an invite link, a crisis (the on-call hears), else who we are, once a day."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.alerts.raising import Signal, reply_key
from bot.inbound.turn import Stage, Turn, quote
from bot.outbox.queue import queue_to
from bot.people.audience import audience_text
from bot.people.invites import redeem_invite, start_code
from bot.staff.grammar import looks_like_command
from flows.numbers import parse_id
from flows.severity import Severity
from storage.models import Alert, AuditAction, Direction, Message, MessageKind, Person, fold_name
from storage.repo import audit

STRANGER_REPLY_EVERY = timedelta(days=1)
"""An unknown address is told who we are at most this often (a crisis is always answered)."""


class Strangers(Stage):
    """An address with no person: joins by invite, is paged about in a crisis, or is told who we are."""

    async def _unknown_sender(self, turn: Turn) -> None:
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
                    text=quote(inbound.text),
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

    async def _about(self, turn: Turn) -> int | None:
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

    async def _explained_lately(self, turn: Turn) -> bool:
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

    def _reply_to_stranger(self, turn: Turn, text: str, kind: MessageKind) -> None:
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

    async def _join_by_invite(self, turn: Turn, code: str) -> None:
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
