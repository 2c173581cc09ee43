"""Alert commands: ACK and DONE (typed or a button), MORE of an alert page, the DIGEST of medium alerts."""

from __future__ import annotations

from bot.channels.base import Button
from bot.staff.caseload import caseload, open_alerts, summary
from bot.staff.grammar import Change, Result, alert_number, done_payload
from bot.staff.handling import Handling, Run
from bot.staff.views import MORE_CHECKINS
from storage.models import Alert, AlertStatus, AuditAction, Person
from storage.repo import audit


class AlertCommands(Handling):
    """ACK, DONE, MORE and DIGEST, through the escalation lifecycle."""

    async def _ack(self, run: Run) -> None:
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

    async def _done(self, run: Run) -> None:
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

    async def _already(self, run: Run, change: Change, alert: Alert, name: str) -> None:
        key = {
            Result.ALREADY_MINE: "already_mine",
            Result.ALREADY_OTHER: "already_other",
            Result.ALREADY_RESOLVED: "already_resolved",
        }[change.result]
        await self._say(run, key, alert_id=alert.id, name=name, who=change.by or "?")

    async def _subject_name(self, run: Run, alert: Alert) -> str:
        subject = await run.s.get(Person, alert.person_id)
        return subject.name if subject is not None else "?"

    async def _digest(self, run: Run) -> None:
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

    async def _more(self, run: Run) -> None:
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
