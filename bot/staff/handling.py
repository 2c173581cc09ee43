"""What every staff command shares: the run of one command, the replies, and finding what it is about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.channels.base import Button
from bot.content import Content
from bot.outbox.queue import queue_message
from bot.people.audience import audience_text
from bot.people.names import match_name
from bot.staff.caseload import caseload, family_of, on_team
from bot.staff.grammar import Command, alert_number
from bot.staff.reader import Reader
from bot.staff.views import StaffTexts
from flows.numbers import parse_id
from storage.models import Alert, ChannelIdentity, MessageKind, Person, fold_name

if TYPE_CHECKING:
    from bot.alerts.lifecycle import Escalation


@dataclass(slots=True)
class Run:
    s: AsyncSession
    sender: Person
    identity: ChannelIdentity
    command: Command
    now: datetime
    queued: int = 0
    # Who a refused lookup named when that is one person off the sender's care teams (an alert of
    # theirs, their id or full name): the refusal is audited against them, so their trail shows it.
    refused_about: int | None = None

    @property
    def actor(self) -> str:
        return f"person:{self.sender.id}"

    @property
    def locale(self) -> str:
        return self.sender.locale


class Handling:
    """Replies to the sender, and the alert or person a command names, within the sender's care teams."""

    _content: Content
    _escalation: Escalation
    _buttons: Mapping[str, bool]

    async def _say(self, run: Run, key: str, buttons: Sequence[Sequence[Button]] = (), **values: Any) -> None:
        # The wording for staff on this channel where there is one (`peer_commands_sms`: short for SMS).
        text = audience_text(
            self._content.messages, key, run.sender.role, run.identity.channel, run.locale, **values
        )
        await self._send(run, text, buttons)

    async def _send(self, run: Run, text: str, buttons: Sequence[Sequence[Button]] = ()) -> None:
        text = self._reader(run).shape(text)
        if queue_message(run.s, run.identity, text, MessageKind.REPLY, run.now, buttons) is not None:
            run.queued += 1

    def _reader(self, run: Run) -> Reader:
        return Reader.of(run.sender, run.identity.channel, self._buttons)

    @property
    def _staff(self) -> StaffTexts:
        return StaffTexts(self._content)

    def _text(self, run: Run, key: str, **values: Any) -> str:
        return self._content.messages.text(key, run.locale, **values)

    async def _alert(self, run: Run, ref: str, *, lock: bool = True) -> Alert | None:
        """Alert `ref` (`12` or `#12`) if the sender is on its PIR's care team; None otherwise, alike."""
        number = alert_number(ref)
        if number is None:
            return None
        alert = await run.s.get(Alert, number, with_for_update=lock)
        assert run.sender.id is not None
        if alert is None:
            return None
        if not await on_team(run.s, run.sender.id, alert.person_id):
            run.refused_about = alert.person_id
            return None
        return alert

    async def _person(self, run: Run, args: str, *, family: bool = False) -> tuple[Person | None, str]:
        """The PIR (or, with `family`, a linked family member) that `args` starts with, and the rest.

        Forms: a name as `bot.people.names` finds it (full, first or the start of one, any case), `@name`, or
        an id (`@3` or `3`). On an unknown or ambiguous name the sender is told and None returned.
        """
        assert run.sender.id is not None
        words = args.split()
        if not words:
            await self._say(run, "who_missing")
            return None, ""
        pirs = [p for p, _ in await caseload(run.s, run.sender.id)]
        candidates = list(pirs)
        if family:
            ids = [p.id for p in pirs if p.id is not None]
            candidates += [f for f, _ in await family_of(run.s, ids, run.now)]
        first = words[0].lstrip("@")
        if parse_id(first) is not None:
            found = [p for p in candidates if p.id == parse_id(first)]
            if found:
                return found[0], " ".join(words[1:])
        match = match_name(candidates, [first, *words[1:]], whole=False)
        if match.person is not None:
            return match.person, " ".join(words[match.used :])
        if match.ambiguous:
            await self._ambiguous(run, " ".join([first, *words[1 : match.used]]), match.people)
            return None, ""
        run.refused_about = await self._named_elsewhere(run, [first, *words[1:]])
        await self._say(run, "who_unknown", who=words[0])
        return None, ""

    async def _named_elsewhere(self, run: Run, words: Sequence[str]) -> int | None:
        """The one person off the sender's care teams whom `words` name by id or full name, if any."""
        if (number := parse_id(words[0])) is not None:
            return number if await run.s.get(Person, number) is not None else None
        for size in range(min(len(words), 4), 0, -1):
            key = fold_name(" ".join(words[:size]))
            found = (
                await run.s.scalars(select(col(Person.id)).where(col(Person.name_key) == key).limit(2))
            ).all()
            if found:
                return found[0] if len(found) == 1 else None
        return None

    async def _ambiguous(self, run: Run, who: str, found: Sequence[Person]) -> None:
        """People are told apart by their full names; only people who share one need their number."""
        names = list(dict.fromkeys(p.name for p in found))
        if len(names) > 1:
            await self._say(run, "who_ambiguous", who=who, names=", ".join(names))
            return
        listed = ", ".join(f"{p.name} (@{p.id})" for p in found)
        await self._say(run, "who_ambiguous_same", who=who, names=listed, id=found[0].id)
