"""Free text: triaged, then passed to the peer (else the first of the care team who can be reached)."""

from __future__ import annotations

from bot.alerts.raising import Signal
from bot.alerts.team import reachable, team_of
from bot.inbound.turn import Stage, Turn
from flows.escalation import FALLBACK_TIERS, Tier
from flows.severity import Severity
from storage.models import AuditAction, MessageKind, Person, Role
from storage.repo import audit


class Relaying(Stage):
    """Free text is triaged; what raises no alert is relayed to the care team."""

    async def _free_text(self, turn: Turn) -> None:
        await self._triage_free_text(turn, turn.inbound.text, relay=True)

    async def _triage_free_text(self, turn: Turn, text: str, *, relay: bool) -> None:
        person = turn.person
        assert person is not None and person.id is not None
        result = self._content.triage.assess(text, person.locale)
        alerted = False
        if result.severity is not Severity.NONE:
            alerted = await self._raise(turn, [Signal.from_triage(result, text)], session_id=None)
        if relay and not alerted:
            await self._relay(turn, text)

    async def _relay(self, turn: Turn, text: str, *, acknowledge: bool = True) -> None:
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
