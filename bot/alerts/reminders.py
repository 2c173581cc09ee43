"""Acknowledged alerts left unresolved: a reminder to whoever acknowledged, then the alert re-opens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.pages import Header, Rows
from bot.alerts.paging import Paging, Round
from bot.alerts.team import reachable
from bot.channels.base import Button
from bot.outbox.queue import queue_message
from bot.staff.grammar import done_payload
from bot.staff.reader import Reader
from flows.escalation import FALLBACK_TIERS, ChainState, Tier
from storage.models import Alert, AlertStatus, AuditAction, MessageKind, Person
from storage.repo import audit


class Reminders(Paging):
    """An acknowledged alert is reminded about, then re-opened up the chain when nobody resolves it."""

    async def _acknowledged_due(self, s: AsyncSession, alert: Alert, now: datetime) -> int:
        """Acknowledged but unresolved: remind the acknowledger, or re-open and page the rest of the team."""
        step = self.policy.reminder(alert.severity, alert.reminders, now)
        acker = await s.get(Person, alert.acknowledged_by) if alert.acknowledged_by is not None else None
        identity, _ = await reachable(s, acker)
        subject = await s.get(Person, alert.person_id)
        assert subject is not None
        if not step.reopen and identity is not None and acker is not None and acker.id is not None:
            assert alert.id is not None and alert.acknowledged_at is not None
            text = self._content.messages.text(
                "alert_reminder",
                acker.locale,
                alert_id=alert.id,
                name=subject.name,
                severity=alert.severity.upper(),
                minutes=int((now - alert.acknowledged_at).total_seconds() // 60),
            )
            rows: Rows = ()
            if self._buttons.get(identity.channel, False):
                rows = (
                    (
                        Button(
                            self._content.messages.text("button_done", acker.locale), done_payload(alert.id)
                        ),
                    ),
                )
            text = Reader.of(acker, identity.channel, self._buttons).shape(text)
            queue_message(s, identity, text, MessageKind.ALERT, now, rows)
            alert.reminders = step.reminders
            alert.next_escalation_at = step.next_at
            audit(
                s, now, "system", AuditAction.ALERT_REMINDED, alert.person_id, alert_id=alert.id, to=acker.id
            )
            return 1
        return await self._reopen(s, alert, acker, now)

    async def _reopen(self, s: AsyncSession, alert: Alert, acker: Person | None, now: datetime) -> int:
        assert alert.acknowledged_at is not None
        alert.status = AlertStatus.OPEN
        alert.reminders = 0
        audit(
            s,
            now,
            "system",
            AuditAction.ALERT_REOPENED,
            alert.person_id,
            alert_id=alert.id,
            acknowledged_by=alert.acknowledged_by,
        )
        ctx = await self._context(s, alert)
        minutes = int((now - alert.acknowledged_at).total_seconds() // 60)
        header: Header = ("alert_reopened", {"who": acker.name if acker else "?", "minutes": minutes})
        done = Round()
        policy = self.policy.for_severity(alert.severity)
        for tier in policy.tiers or FALLBACK_TIERS:
            person = ctx.team.get(tier)
            if person is not None and acker is not None and person.id == acker.id:
                continue
            await self._try_tier(s, ctx, tier, done, [header], now)
        if not done.paged and acker is not None:  # nobody else to turn to: the acknowledger again
            identity, _ = await reachable(s, acker)
            if identity is not None:
                await self._page(s, ctx, acker, identity, [header], now, tier=Tier.PEER)
                done.paged.append(acker)
        state = ChainState(len(policy.chain), 0)
        alert.escalation_level, alert.repeats = state.level, state.repeats
        alert.next_escalation_at = self.policy.next_at(alert.severity, state, alert.created_at, now)
        return len(done.paged)
