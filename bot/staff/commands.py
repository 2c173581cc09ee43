"""Peer and supervisor commands: acknowledge and resolve alerts, caseload, history of one PIR, reply to
a PIR through the bot, contact notes (the H0038 billing record), pause/resume check-ins, the digest.

Text commands work on every channel (`ACK 12`, `DONE 12 called her, safe`), with or without a leading
`/` (Telegram style, `/caseload`); Telegram buttons carry `alert:ack:<id>` / `alert:done:<id>`.
Shortcuts: a message starting with `@Name` or `#12` is a REPLY to that PIR or to the PIR of alert 12.

Authorisation: a command only ever sees PIRs whose care team includes the sender (peer, backup or
supervisor); anything else is answered exactly as if it did not exist. A PIR, a family member or an
unknown sender gets a plain refusal. Every command, allowed or refused, is an audit event.

Here: dispatch. The words are `grammar`; the handlers `alert_commands` and `person_commands`, over
`handling` (replies, and finding the alert or person a command names).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import Content
from bot.people.audience import STAFF
from bot.staff.alert_commands import AlertCommands
from bot.staff.grammar import Verb, parse
from bot.staff.handling import Run
from bot.staff.person_commands import PersonCommands
from storage.models import AuditAction, ChannelIdentity, Person
from storage.repo import audit

if TYPE_CHECKING:
    from bot.alerts.lifecycle import Escalation


class PeerCommands(AlertCommands, PersonCommands):
    """Runs one command inside the pipeline's transaction; replies go to the sender's identity."""

    def __init__(self, content: Content, escalation: Escalation, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._escalation = escalation
        self._buttons = buttons
        self._handlers: dict[Verb, Callable[[Run], Awaitable[None]]] = {
            Verb.ACK: self._ack,
            Verb.DONE: self._done,
            Verb.CASELOAD: self._caseload,
            Verb.HISTORY: self._history,
            Verb.REPLY: self._reply,
            Verb.NOTE: self._note,
            Verb.PAUSE: self._pause,
            Verb.RESUME: self._pause,
            Verb.DIGEST: self._digest,
            Verb.MORE: self._more,
            Verb.COMMANDS: self._commands,
        }

    async def handle(
        self,
        s: AsyncSession,
        sender: Person,
        identity: ChannelIdentity,
        text: str,
        payload: str | None,
        now: datetime,
    ) -> int:
        """Run the command in `text`/`payload` for `sender`; returns how many messages were queued."""
        assert sender.id is not None
        command = parse(text, payload)
        run = Run(s, sender, identity, command, now)
        if sender.role not in STAFF:
            audit(
                s,
                now,
                run.actor,
                AuditAction.PEER_COMMAND_REFUSED,
                sender.id,
                verb=command.verb,
                role=sender.role,
            )
            await self._say(run, "peer_command_refused")
            return run.queued
        if command.verb is None:
            audit(s, now, run.actor, AuditAction.PEER_COMMAND_UNKNOWN, None)
            await self._say(run, "no_command")
            return run.queued
        await self._handlers[command.verb](run)
        return run.queued

    # -- replies ------------------------------------------------------------------------------------

    # -- finding what a command is about, within the sender's care teams ----------------------------

    # -- alerts -------------------------------------------------------------------------------------

    # -- seeing PIRs --------------------------------------------------------------------------------

    # -- acting for a PIR ---------------------------------------------------------------------------

    async def _commands(self, run: Run) -> None:
        audit(run.s, run.now, run.actor, AuditAction.PEER_COMMANDS, None)
        await self._say(run, "peer_commands")
