"""A PIR's own control of what family see: YES / NO to a consent request, PRIVACY, UNSHARE <name>.

Which of these a message is, and whether a YES answers the consent request or the open check-in, is
decided in `bot.family.consent`; the consent's rows change in `bot.family.requests`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.channels.base import Button
from bot.family.consent import (
    CONSENT_PAYLOAD,
    UNSHARE_PAYLOAD,
    Answer,
    PrivacyVerb,
    answer_of,
    live,
    privacy_command,
    yes_no_goes_to_consent,
)
from bot.family.requests import (
    answer_request,
    end_consent,
    links_of_pir,
    pending_request,
    until_text,
    what_text,
)
from bot.inbound.relay import Relaying
from bot.inbound.turn import Turn
from bot.outbox.queue import queue_message
from bot.people.names import match_name
from bot.staff.reader import Reader
from flows.severity import Severity
from storage.models import ConsentState, FamilyLink, MessageKind, Person


class Privacy(Relaying):
    """Consent answers and the PIR's PRIVACY and UNSHARE; `_privacy` says whether it took the message."""

    async def _privacy(self, turn: Turn) -> bool:
        person, inbound = turn.person, turn.inbound
        assert person is not None and person.id is not None
        if inbound.payload is not None:
            return await self._privacy_button(turn, inbound.payload)
        command = privacy_command(inbound.text)
        if command is not None:
            if command.verb is PrivacyVerb.PRIVACY or not command.name:
                await self._list(turn)
                return True
            return await self._unshare_named(turn, command.name)
        answer = answer_of(inbound.text)
        if answer is None:
            return False
        link = await pending_request(turn.s, person.id, turn.now)
        if link is None:
            return False
        session = await turn.lookups.active_session(person.id)
        if not yes_no_goes_to_consent(link, session):
            return False  # the check-in asked last: the answer is the check-in's
        await self._consent_answer(turn, link, answer)
        return True

    async def _consent_answer(self, turn: Turn, link: FamilyLink, answer: Answer) -> None:
        assert turn.identity is not None
        reply = await answer_request(
            turn.s,
            self._content.messages,
            link,
            answer,
            turn.now,
            message_id=turn.message.id,
            channel=turn.identity.channel,
            text=turn.inbound.text,
        )
        await self._privacy_reply(turn, reply)

    async def _privacy_button(self, turn: Turn, payload: str) -> bool:
        person = turn.person
        assert person is not None
        if payload.startswith(CONSENT_PAYLOAD):
            verb, _, raw_id = payload.removeprefix(CONSENT_PAYLOAD).partition(":")
            link = await self._own_link(turn, raw_id)
            if link is None or link.state != ConsentState.PENDING or verb not in ("yes", "no"):
                await self._privacy_reply(turn, self._content.messages.text("consent_gone", person.locale))
                return True
            await self._consent_answer(turn, link, Answer(verb))
            return True
        if payload.startswith(UNSHARE_PAYLOAD):
            link = await self._own_link(turn, payload.removeprefix(UNSHARE_PAYLOAD))
            if link is None or not live(link, person.status, turn.now):
                await self._privacy_reply(turn, self._content.messages.text("consent_gone", person.locale))
                return True
            await self._unshare(turn, link)
            return True
        return False

    async def _own_link(self, turn: Turn, raw_id: str) -> FamilyLink | None:
        person = turn.person
        assert person is not None
        if not raw_id.isdigit():
            return None
        link = await turn.s.get(FamilyLink, int(raw_id))
        return link if link is not None and link.pir_id == person.id else None

    async def _shared_with(self, turn: Turn) -> list[tuple[FamilyLink, Person]]:
        """This PIR's consents in force or waiting for an answer, with the family member of each."""
        person = turn.person
        assert person is not None and person.id is not None
        found = []
        for link in await links_of_pir(turn.s, person.id):
            fam = await turn.s.get(Person, link.family_id)
            pending = link.state == ConsentState.PENDING and (link.answer_by or turn.now) > turn.now
            if fam is not None and (pending or live(link, person.status, turn.now)):
                found.append((link, fam))
        return found

    async def _list(self, turn: Turn) -> None:
        person, identity = turn.person, turn.identity
        assert person is not None and identity is not None
        messages = self._content.messages
        shared = await self._shared_with(turn)
        if not shared:
            await self._privacy_reply(turn, messages.text("privacy_none", person.locale))
            return
        lines = [messages.text("privacy_header", person.locale)]
        rows: list[Sequence[Button]] = []
        for link, fam in shared:
            if link.state == ConsentState.PENDING:
                lines.append(messages.text("privacy_pending", person.locale, family=fam.name))
                continue
            what = what_text(messages, link.scope, person.locale)
            until = until_text(messages, link, person)
            lines.append(
                messages.text("privacy_item", person.locale, family=fam.name, what=what, until=until)
            )
            label = messages.text("unshare_button", person.locale, family=fam.name)
            rows.append([Button(label, f"{UNSHARE_PAYLOAD}{link.id}")])
        lines.append(messages.text("privacy_footer", person.locale))
        buttons = rows if Reader.of(person, identity.channel, self._buttons).buttons else ()
        await self._privacy_reply(turn, "\n".join(lines), buttons)

    async def _unshare_named(self, turn: Turn, name: str) -> bool:  # always True: the message is taken
        person = turn.person
        assert person is not None
        messages = self._content.messages
        active = [
            (link, fam) for link, fam in await self._shared_with(turn) if link.state == ConsentState.ACTIVE
        ]
        found = match_name([fam for _, fam in active], name.split())
        if found.ambiguous:
            names = ", ".join(p.name for p in found.people)
            await self._privacy_reply(turn, messages.text("unshare_ambiguous", person.locale, names=names))
            return True
        if found.person is None:
            # Read for danger first: "UNSHARE mom I can't do this anymore" is heard, not just refused.
            await self._triage_free_text(turn, turn.inbound.text, relay=False)
            if turn.outcome.severity is Severity.NONE:
                await self._privacy_reply(turn, messages.text("unshare_unknown", person.locale, name=name))
            return True
        for link, fam in active:
            if fam.id == found.person.id:
                await self._unshare(turn, link)
        return True

    async def _unshare(self, turn: Turn, link: FamilyLink) -> None:
        person = turn.person
        assert person is not None
        fam = await turn.s.get(Person, link.family_id)
        assert fam is not None
        messages = self._content.messages
        await end_consent(turn.s, messages, link, ConsentState.REVOKED, turn.now, f"person:{person.id}")
        await self._privacy_reply(turn, messages.text("unshare_done", person.locale, family=fam.name))

    async def _privacy_reply(self, turn: Turn, text: str, buttons: Sequence[Sequence[Button]] = ()) -> None:
        assert turn.identity is not None
        if queue_message(turn.s, turn.identity, text, MessageKind.REPLY, turn.now, buttons) is not None:
            turn.outcome.queued += 1
