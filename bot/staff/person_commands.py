"""Commands about one PIR: CASELOAD, HISTORY, REPLY through the bot, NOTE (the H0038 record), PAUSE/RESUME."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.local_time import next_due
from bot.staff.caseload import caseload, open_alerts, paused, shown_body, summary
from bot.staff.contact import (
    FIRST_UNIT_MINUTES,
    MAX_NOTE_MINUTES,
    UNIT_MINUTES,
    add_note,
    contact_method,
    send_reply,
)
from bot.staff.grammar import MINUTES, Verb, alert_number
from bot.staff.handling import Handling, Run
from bot.staff.reader import when
from bot.staff.views import CaseloadRow
from flows.numbers import parse_id
from storage.models import (
    Alert,
    AuditAction,
    CheckinSchedule,
    ContactNote,
    Person,
)
from storage.repo import audit, history

_PAUSE_ACTIONS = {True: AuditAction.PEER_PAUSE, False: AuditAction.PEER_RESUME}


class PersonCommands(Handling):
    """CASELOAD, HISTORY, REPLY, NOTE, PAUSE and RESUME, each only for PIRs on the sender's care teams."""

    async def _caseload(self, run: Run) -> None:
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

    async def _history(self, run: Run) -> None:
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
                body = shown_body(message)
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

    async def _reply(self, run: Run) -> None:
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
        reply = await send_reply(s, self._content.messages, sender, target, text, run.now, run.actor)
        if not reply.queued:
            await self._say(run, "reply_unreachable", name=target.name)
            return
        run.queued += 1
        await self._say(run, "reply_sent", name=target.name)

    async def _note(self, run: Run) -> None:
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
        method = contact_method(words[at + 1])
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
        note = await add_note(s, sender, pir, minutes, method, text, run.now, run.actor)
        units = note.units
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

    async def _pause(self, run: Run) -> None:
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
        return pir_id in await paused(s, [pir_id])
