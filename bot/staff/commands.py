"""Peer and supervisor commands: acknowledge and resolve alerts, caseload, history of one PIR, reply to
a PIR through the bot, contact notes (the H0038 billing record), pause/resume check-ins, the digest.

Text commands work on every channel (`ACK 12`, `DONE 12 called her, safe`), with or without a leading
`/` (Telegram style, `/caseload`); Telegram buttons carry `alert:ack:<id>` / `alert:done:<id>`.
Shortcuts: a message starting with `@Name` or `#12` is a REPLY to that PIR or to the PIR of alert 12.

Authorisation: a command only ever sees PIRs whose care team includes the sender (peer, backup or
supervisor); anything else is answered exactly as if it did not exist. A PIR, a family member or an
unknown sender gets a plain refusal. Every command, allowed or refused, is an audit event.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.channels.base import Button
from bot.checkins.local_time import local_date, next_due
from bot.content import Content
from bot.outbox.queue import queue_message
from bot.people.audience import audience_text
from bot.staff.caseload import (
    STAFF,
    caseload,
    family_of,
    on_team,
    open_alerts,
    reply_identity,
    summary,
)
from bot.staff.grammar import MINUTES, Change, Command, Result, Verb, alert_number, done_payload, parse
from bot.staff.names import match_name
from bot.staff.reader import Reader, when
from bot.staff.texts import MORE_CHECKINS, CaseloadRow, StaffTexts
from flows.numbers import parse_id
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    ChannelIdentity,
    CheckinSchedule,
    ContactMethod,
    ContactNote,
    MessageKind,
    Person,
    Role,
    fold_name,
)
from storage.repo import audit, history

if TYPE_CHECKING:
    from bot.alerts.lifecycle import Escalation

MAX_NOTE_MINUTES = 8 * 60  # one note is one contact; a longer day is several sessions
UNIT_MINUTES = 15  # H0038 is billed in 15-minute units ...
FIRST_UNIT_MINUTES = 8  # ... and a unit counts from more than half of one (the CMS midpoint rule)
# The pipeline keeps a pressed button's payload beside its label in the message body ("No [used:no]"):
# history shows what the person saw and chose, never the payload.
_PAYLOAD_IN_BODY = re.compile(r"\s*\[[\w.-]+:[^\]\s]*\]$")


_PAUSE_ACTIONS = {True: AuditAction.PEER_PAUSE, False: AuditAction.PEER_RESUME}
_METHODS: dict[str, ContactMethod] = {
    **{m.value: m for m in ContactMethod},
    "sms": ContactMethod.TEXT,
    "txt": ContactMethod.TEXT,
    "call": ContactMethod.PHONE,
    "tel": ContactMethod.PHONE,
    "zoom": ContactMethod.VIDEO,
    "inperson": ContactMethod.IN_PERSON,
    "in-person": ContactMethod.IN_PERSON,
    "person": ContactMethod.IN_PERSON,
    "f2f": ContactMethod.IN_PERSON,
}


@dataclass(slots=True)
class _Run:
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


class PeerCommands:
    """Runs one command inside the pipeline's transaction; replies go to the sender's identity."""

    def __init__(self, content: Content, escalation: Escalation, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._escalation = escalation
        self._buttons = buttons
        self._handlers: dict[Verb, Callable[[_Run], Awaitable[None]]] = {
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
        run = _Run(s, sender, identity, command, now)
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

    async def _say(
        self, run: _Run, key: str, buttons: Sequence[Sequence[Button]] = (), **values: Any
    ) -> None:
        # The wording for staff on this channel where there is one (`peer_commands_sms`: short for SMS).
        text = audience_text(
            self._content.messages, key, run.sender.role, run.identity.channel, run.locale, **values
        )
        await self._send(run, text, buttons)

    async def _send(self, run: _Run, text: str, buttons: Sequence[Sequence[Button]] = ()) -> None:
        text = self._reader(run).shape(text)
        if queue_message(run.s, run.identity, text, MessageKind.REPLY, run.now, buttons) is not None:
            run.queued += 1

    def _reader(self, run: _Run) -> Reader:
        return Reader.of(run.sender, run.identity.channel, self._buttons)

    @property
    def _staff(self) -> StaffTexts:
        return StaffTexts(self._content)

    def _text(self, run: _Run, key: str, **values: Any) -> str:
        return self._content.messages.text(key, run.locale, **values)

    # -- finding what a command is about, within the sender's care teams ----------------------------

    async def _alert(self, run: _Run, ref: str, *, lock: bool = True) -> Alert | None:
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

    async def _person(self, run: _Run, args: str, *, family: bool = False) -> tuple[Person | None, str]:
        """The PIR (or, with `family`, a linked family member) that `args` starts with, and the rest.

        Forms: a name as `bot.staff.names` finds it (full, first or the start of one, any case), `@name`, or
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

    async def _named_elsewhere(self, run: _Run, words: Sequence[str]) -> int | None:
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

    async def _ambiguous(self, run: _Run, who: str, found: Sequence[Person]) -> None:
        """People are told apart by their full names; only people who share one need their number."""
        names = list(dict.fromkeys(p.name for p in found))
        if len(names) > 1:
            await self._say(run, "who_ambiguous", who=who, names=", ".join(names))
            return
        listed = ", ".join(f"{p.name} (@{p.id})" for p in found)
        await self._say(run, "who_ambiguous_same", who=who, names=listed, id=found[0].id)

    # -- alerts -------------------------------------------------------------------------------------

    async def _ack(self, run: _Run) -> None:
        s, sender = run.s, run.sender
        assert sender.id is not None
        ref = run.command.args.split()[0] if run.command.args.split() else ""
        if ref:
            alert = await self._alert(run, ref)
        else:  # plain ACK: the newest open alert on the sender's caseload
            ids = [p.id for p, _ in await caseload(s, sender.id) if p.id is not None]
            opened = [a for a in await open_alerts(s, ids) if a.status == AlertStatus.OPEN]
            alert = await s.get(Alert, opened[0].id, with_for_update=True) if opened else None
            if alert is None:
                audit(s, run.now, run.actor, AuditAction.PEER_ACK, run.refused_about, found=False)
                await self._say(run, "no_open_alerts")
                return
        if alert is None:
            audit(s, run.now, run.actor, AuditAction.PEER_ACK, run.refused_about, alert_ref=ref, found=False)
            await self._say(run, "alert_unknown", ref=ref.lstrip("#"))
            return
        change = await self._escalation.acknowledge(s, alert, sender, run.now)
        run.queued += change.queued
        audit(
            s,
            run.now,
            run.actor,
            AuditAction.PEER_ACK,
            alert.person_id,
            alert_id=alert.id,
            result=change.result,
        )
        name = await self._subject_name(run, alert)
        if change.result is Result.CHANGED:
            assert alert.id is not None
            rows: tuple[tuple[Button, ...], ...] = ()
            if self._buttons.get(run.identity.channel, False):
                rows = ((Button(self._text(run, "button_done"), done_payload(alert.id)),),)
            await self._say(run, "ack_done", rows, alert_id=alert.id, name=name)
        else:
            await self._already(run, change, alert, name)

    async def _done(self, run: _Run) -> None:
        s, sender = run.s, run.sender
        parts = run.command.args.split(maxsplit=1)
        if not parts or alert_number(parts[0]) is None:
            audit(s, run.now, run.actor, AuditAction.PEER_DONE, None, usage=True)
            await self._say(run, "done_usage")
            return
        ref, note = parts[0], (parts[1].strip() if len(parts) > 1 else "")
        alert = await self._alert(run, ref)
        if alert is None:
            audit(s, run.now, run.actor, AuditAction.PEER_DONE, run.refused_about, alert_ref=ref, found=False)
            await self._say(run, "alert_unknown", ref=ref.lstrip("#"))
            return
        change = await self._escalation.resolve(s, alert, sender, note, run.now)
        run.queued += change.queued
        audit(
            s,
            run.now,
            run.actor,
            AuditAction.PEER_DONE,
            alert.person_id,
            alert_id=alert.id,
            result=change.result,
        )
        name = await self._subject_name(run, alert)
        if change.result is Result.CHANGED:
            await self._say(run, "done_done", alert_id=alert.id, name=name)
        else:
            await self._already(run, change, alert, name)

    async def _already(self, run: _Run, change: Change, alert: Alert, name: str) -> None:
        key = {
            Result.ALREADY_MINE: "already_mine",
            Result.ALREADY_OTHER: "already_other",
            Result.ALREADY_RESOLVED: "already_resolved",
        }[change.result]
        await self._say(run, key, alert_id=alert.id, name=name, who=change.by or "?")

    async def _subject_name(self, run: _Run, alert: Alert) -> str:
        subject = await run.s.get(Person, alert.person_id)
        return subject.name if subject is not None else "?"

    async def _digest(self, run: _Run) -> None:
        s, sender = run.s, run.sender
        assert sender.id is not None
        ids = [p.id for p, _ in await caseload(s, sender.id) if p.id is not None]
        policy = self._escalation.policy
        alerts = [a for a in await open_alerts(s, ids) if policy.for_severity(a.severity).digest]
        audit(s, run.now, run.actor, AuditAction.PEER_DIGEST, None, alerts=[a.id for a in alerts])
        if not alerts:
            await self._say(run, "digest_empty")
            return
        reader = self._reader(run)
        listed = []
        for alert in alerts:
            subject = await s.get(Person, alert.person_id)
            raised_by = await s.get(Person, alert.raised_by_id) if alert.raised_by_id else None
            assert subject is not None
            facts = await self._escalation.facts(s, alert, subject, raised_by, reader)
            note = ""
            if alert.status == AlertStatus.ACKNOWLEDGED:
                note = self._text(run, "digest_acknowledged", who=facts.acknowledged_by or "?")
            listed.append((facts, note))
        footer = self._text(run, "digest_footer")
        await self._send(run, self._staff.digest(listed, reader, footer=footer))

    async def _more(self, run: _Run) -> None:
        """MORE <alert>: the whole alert, for a page that had to leave some of it out."""
        s = run.s
        ref = run.command.args.split()[0] if run.command.args.split() else ""
        if alert_number(ref) is None:
            audit(s, run.now, run.actor, AuditAction.PEER_MORE, None, usage=True)
            await self._say(run, "more_usage")
            return
        alert = await self._alert(run, ref, lock=False)
        if alert is None:
            audit(s, run.now, run.actor, AuditAction.PEER_MORE, run.refused_about, alert_ref=ref, found=False)
            await self._say(run, "alert_unknown", ref=ref.lstrip("#"))
            return
        assert alert.id is not None
        subject = await s.get(Person, alert.person_id)
        raised_by = await s.get(Person, alert.raised_by_id) if alert.raised_by_id else None
        assert subject is not None and subject.id is not None
        reader = self._reader(run)
        seen = await summary(s, subject.id, recent=MORE_CHECKINS)
        facts = await self._escalation.facts(s, alert, subject, raised_by, reader, seen)
        audit(s, run.now, run.actor, AuditAction.PEER_MORE, alert.person_id, alert_id=alert.id)
        rows: tuple[tuple[Button, ...], ...] = ()
        if reader.buttons and alert.status == AlertStatus.OPEN:
            rows = self._escalation.alert_buttons(alert.id, run.locale)
        elif reader.buttons and alert.status == AlertStatus.ACKNOWLEDGED:
            rows = ((Button(self._text(run, "button_done"), done_payload(alert.id)),),)
        await self._send(run, self._staff.full(facts, reader), rows)

    # -- seeing PIRs --------------------------------------------------------------------------------

    async def _caseload(self, run: _Run) -> None:
        s, sender = run.s, run.sender
        assert sender.id is not None
        pirs = await caseload(s, sender.id)
        audit(s, run.now, run.actor, AuditAction.PEER_CASELOAD, None, pirs=[p.id for p, _ in pirs])
        if not pirs:
            await self._say(run, "caseload_empty")
            return
        alerts: dict[int, list[Alert]] = {}
        for alert in await open_alerts(s, [p.id for p, _ in pirs if p.id is not None]):
            alerts.setdefault(alert.person_id, []).append(alert)
        rows = []
        for pir, team in pirs:
            assert pir.id is not None
            facts = await summary(s, pir.id, recent=1)
            role = (
                "" if team.peer_id == sender.id else "backup" if team.backup_id == sender.id else "supervisor"
            )
            rows.append(
                CaseloadRow(
                    name=pir.name,
                    last=facts.last,
                    streak=facts.streak,
                    latest=dict(facts.latest),
                    alerts=tuple((a.id, a.severity) for a in alerts.get(pir.id, []) if a.id is not None),
                    role=role,
                    paused=await self._paused(s, pir.id),
                )
            )
        page = run.command.args.split()[0] if run.command.args.split() else "1"
        number = parse_id(page) or 1
        await self._send(run, self._staff.caseload(rows, self._reader(run), number))

    async def _history(self, run: _Run) -> None:
        s = run.s
        pir, _ = await self._person(run, run.command.args)
        if pir is None or pir.id is None:
            audit(s, run.now, run.actor, AuditAction.PEER_HISTORY, run.refused_about, found=False)
            return
        audit(s, run.now, run.actor, AuditAction.PEER_HISTORY, pir.id)
        facts = await summary(s, pir.id, recent=7)
        reader = self._reader(run)
        lines = [self._text(run, "history_header", name=pir.name, streak=facts.streak)]
        if await self._paused(s, pir.id):
            lines[0] += " " + self._text(run, "caseload_paused")
        lines += [f"• {self._staff.checkin(c, reader)}" for c in facts.recent] or [
            self._text(run, "alert_no_checkins")
        ]
        alerts = (
            await s.scalars(
                select(Alert).where(col(Alert.person_id) == pir.id).order_by(col(Alert.id).desc()).limit(5)
            )
        ).all()
        if alerts:
            lines.append(self._text(run, "history_alerts"))
            for alert in alerts:
                line = self._text(
                    run,
                    "history_alert",
                    alert_id=alert.id,
                    day=when(alert.created_at, reader),
                    severity=self._staff.severity(alert.severity, reader),
                    categories=", ".join(self._staff.category(c, reader) for c in alert.categories),
                    status=self._text(run, "status_" + alert.status),
                )
                lines.append(f"• {line}")
        recent = await history(s, pir.id, limit=6)
        if recent:
            lines.append(self._text(run, "history_messages"))
            for message in reversed(recent):
                arrow = "→" if message.direction == "out" else "←"
                body = _PAYLOAD_IN_BODY.sub("", message.body) if message.direction == "in" else message.body
                body = body if len(body) <= 80 else body[:77] + "..."
                lines.append(f"• {when(message.created_at, reader, time=True)} {arrow} {body}")
        notes = (
            await s.scalars(
                select(ContactNote)
                .where(col(ContactNote.pir_id) == pir.id)
                .order_by(col(ContactNote.id).desc())
                .limit(3)
            )
        ).all()
        if notes:
            lines.append(self._text(run, "history_notes"))
            for note in notes:
                lines.append(f"• {note.service_date} {note.minutes} min {note.method}: {note.note}")
        await self._send(run, "\n".join(lines))

    # -- acting for a PIR ---------------------------------------------------------------------------

    async def _reply(self, run: _Run) -> None:
        s, sender = run.s, run.sender
        args = run.command.args.strip()
        first = args.split(maxsplit=1)[0] if args else ""
        target: Person | None
        if alert_number(first) is not None and not first.startswith("@"):
            alert = await self._alert(run, first)
            if alert is None:
                audit(
                    s,
                    run.now,
                    run.actor,
                    AuditAction.PEER_REPLY,
                    run.refused_about,
                    alert_ref=first,
                    found=False,
                )
                await self._say(run, "alert_unknown", ref=first.lstrip("#"))
                return
            target = await s.get(Person, alert.person_id)
            text = args[len(first) :].strip()
        else:
            target, text = await self._person(run, args, family=True)
            if target is None:
                audit(s, run.now, run.actor, AuditAction.PEER_REPLY, run.refused_about, found=False)
                return
        assert target is not None and target.id is not None
        if not text:
            await self._say(run, "reply_usage")
            return
        identity = await reply_identity(s, target.id)
        if identity is None:
            audit(s, run.now, run.actor, AuditAction.PEER_REPLY, target.id, delivered=False)
            await self._say(run, "reply_unreachable", name=target.name)
            return
        key = "peer_reply_family" if target.role == Role.FAMILY else "peer_reply"
        body = self._content.messages.text(key, target.locale, peer=sender.name, text=text)
        message = queue_message(s, identity, body, MessageKind.RELAY, run.now)
        run.queued += 1
        audit(
            s,
            run.now,
            run.actor,
            AuditAction.PEER_REPLY,
            target.id,
            message_id=message,  # written as the message's id (storage.appends)
            channel=identity.channel,
        )
        await self._say(run, "reply_sent", name=target.name)

    async def _note(self, run: _Run) -> None:
        """NOTE <pir> <minutes> <method> <note>: a contact as a billing record (H0038 units of 15 min)."""
        s, sender = run.s, run.sender
        assert sender.id is not None
        words = run.command.args.split()
        at = next((i for i, w in enumerate(words) if i > 0 and MINUTES.match(w)), None)
        if at is None or at + 2 >= len(words):  # a name, minutes, a method and a note are all needed
            await self._say(run, "note_usage")
            return
        match = MINUTES.match(words[at])
        assert match is not None
        minutes = int(match.group(1))
        method = _METHODS.get(words[at + 1].casefold())
        text = " ".join(words[at + 2 :])
        if method is None or not text:
            await self._say(run, "note_usage")
            return
        if not 0 < minutes <= MAX_NOTE_MINUTES:
            audit(s, run.now, run.actor, AuditAction.PEER_NOTE, None, minutes=minutes, refused="minutes")
            await self._say(run, "note_minutes_range", max=MAX_NOTE_MINUTES, hours=MAX_NOTE_MINUTES // 60)
            return
        pir, rest = await self._person(run, " ".join(words[:at]))
        if pir is None or pir.id is None or rest:
            if pir is not None and rest:
                await self._say(run, "note_usage")
            audit(s, run.now, run.actor, AuditAction.PEER_NOTE, run.refused_about, found=False)
            return
        units = (minutes + UNIT_MINUTES - FIRST_UNIT_MINUTES) // UNIT_MINUTES  # 8-22 min: 1, 23-37: 2
        note = ContactNote(
            pir_id=pir.id,
            peer_id=sender.id,
            service_date=local_date(run.now, sender.timezone),
            started_at=run.now - timedelta(minutes=minutes),
            ended_at=run.now,
            minutes=minutes,
            units=units,
            method=method,
            note=text,
            created_at=run.now,
        )
        s.add(note)
        await s.flush()
        audit(
            s,
            run.now,
            run.actor,
            AuditAction.CONTACT_NOTED,
            pir.id,
            note_id=note.id,
            minutes=minutes,
            units=units,
            method=str(method),
        )
        await self._say(
            run,
            "note_saved" if units else "note_saved_unbilled",
            name=pir.name,
            minutes=minutes,
            method=method.replace("_", " "),
            date=note.service_date,
            units=units,
            code=note.service_code,
            first=FIRST_UNIT_MINUTES,
            unit=UNIT_MINUTES,
        )

    async def _pause(self, run: _Run) -> None:
        s = run.s
        pause = run.command.verb is Verb.PAUSE
        pir, _ = await self._person(run, run.command.args)
        if pir is None or pir.id is None:
            audit(s, run.now, run.actor, _PAUSE_ACTIONS[pause], run.refused_about, found=False)
            return
        schedules = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == pir.id))
        ).all()
        if not schedules:
            await self._say(run, "pause_none", name=pir.name)
            return
        for schedule in schedules:
            schedule.paused = pause
            if not pause:  # resume from now: no catching up on the days it was paused
                schedule.next_due_at = next_due(run.now, pir.timezone, schedule.local_time, schedule.days)
        audit(
            s,
            run.now,
            run.actor,
            AuditAction.CHECKINS_PAUSED if pause else AuditAction.CHECKINS_RESUMED,
            pir.id,
        )
        if pause:
            await self._say(run, "paused", name=pir.name)
        else:
            nxt = min(x.next_due_at for x in schedules if x.next_due_at is not None)
            await self._say(run, "resumed", name=pir.name, next=when(nxt, run.sender, time=True))

    @staticmethod
    async def _paused(s: AsyncSession, pir_id: int) -> bool:
        schedules = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == pir_id))
        ).all()
        return bool(schedules) and all(x.paused for x in schedules)

    async def _commands(self, run: _Run) -> None:
        audit(run.s, run.now, run.actor, AuditAction.PEER_COMMANDS, None)
        await self._say(run, "peer_commands")
