"""Compliance keywords (STOP, START, HELP) from a known sender; which word is which is `flows.keywords`."""

from __future__ import annotations

from bot.inbound.relay import Relaying
from bot.inbound.turn import Turn
from bot.people.audience import STAFF, audience_text
from bot.people.lost_contact import tell_team
from flows.keywords import Keyword
from storage.models import AuditAction, MessageKind
from storage.repo import audit


class Compliance(Relaying):
    """STOP, START and HELP, each answered in the wording for its reader's audience and channel."""

    async def _keyword(self, turn: Turn, keyword: Keyword) -> None:
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
