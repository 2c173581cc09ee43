"""Routing one message: the sender, then a keyword, a PIR's consent or privacy reply, a staff command, a
check-in answer or free text."""

from __future__ import annotations

from bot.inbound.answers import Answers
from bot.inbound.compliance import Compliance
from bot.inbound.privacy import Privacy
from bot.inbound.strangers import Strangers
from bot.inbound.turn import Turn
from bot.people.audience import STAFF
from bot.staff.commands import PeerCommands
from bot.staff.grammar import looks_like_command
from flows.keywords import Keyword, classify
from flows.severity import Severity
from storage.models import AuditAction, MessageKind, Role
from storage.repo import audit


class Routing(Answers, Compliance, Privacy, Strangers):
    """Who sent it, and which way it goes: keyword, staff command, answer to the open check-in, free text."""

    _peer_commands: PeerCommands

    async def _process(self, turn: Turn) -> None:
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
        if person.role == Role.PIR and identity.opted_out_at is None and await self._privacy(turn):
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

    async def _peer_command(self, turn: Turn) -> None:
        """Staff commands and alert buttons (`bot.staff.commands`); anyone else trying one is refused."""
        person, identity, inbound = turn.person, turn.identity, turn.inbound
        assert person is not None and identity is not None
        turn.outcome.queued += await self._peer_commands.handle(
            turn.s, person, identity, inbound.text, inbound.payload, turn.now
        )
        if person.role not in STAFF and inbound.payload is None:
            # Refused, but still read: a crisis written as a command is still a crisis.
            await self._triage_free_text(turn, inbound.text, relay=False)
