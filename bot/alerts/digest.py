"""The daily digest of medium alerts: when it is due for a PIR's team, and the one message it is."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.pages import Pages
from bot.alerts.team import reachable, team_of
from bot.local_time import next_due
from bot.outbox.queue import queue_message
from bot.staff.reader import Reader
from flows.escalation import FALLBACK_TIERS
from storage.models import Alert, AlertStatus, AuditAction, ChannelIdentity, MessageKind, Person
from storage.repo import audit


class Digest(Pages):
    """Medium alerts wait for the team's digest, sent once at the peer's check-in time."""

    async def _digest_at(self, s: AsyncSession, alert: Alert, now: datetime) -> datetime:
        """The next digest time of whoever will receive it (their local time), else the PIR's."""
        subject = await s.get(Person, alert.person_id)
        assert subject is not None and subject.id is not None
        team = await team_of(s, subject.id)
        timezone = subject.timezone
        for tier in FALLBACK_TIERS:
            identity, _ = await reachable(s, team[tier])
            person = team[tier]
            if identity is not None and person is not None:
                timezone = person.timezone
                break
        return next_due(now, timezone, self.policy.digest_time)

    async def digest(self, s: AsyncSession, alerts: Sequence[Alert], now: datetime) -> int:
        """One digest message per recipient for the open digest alerts whose time has come."""
        groups: dict[int, tuple[Person, ChannelIdentity, list[tuple[Alert, Person, Person | None]]]] = {}
        for alert in alerts:
            alert.next_escalation_at = None
            if alert.status != AlertStatus.OPEN:
                continue
            subject = await s.get(Person, alert.person_id)
            assert subject is not None and subject.id is not None
            raised_by = await s.get(Person, alert.raised_by_id) if alert.raised_by_id is not None else None
            team = await team_of(s, subject.id)
            for tier in FALLBACK_TIERS:
                person = team[tier]
                identity, _ = await reachable(s, person)
                if identity is not None and person is not None and person.id is not None:
                    groups.setdefault(person.id, (person, identity, []))[2].append(
                        (alert, subject, raised_by)
                    )
                    alert.escalation_level = 1
                    if person.id not in alert.notified:
                        alert.notified = [*alert.notified, person.id]
                    audit(
                        s,
                        now,
                        "system",
                        AuditAction.ALERT_DIGESTED,
                        alert.person_id,
                        alert_id=alert.id,
                        to=person.id,
                    )
                    break
            else:
                audit(
                    s, now, "system", AuditAction.ALERT_NOBODY_REACHABLE, alert.person_id, alert_id=alert.id
                )
        messages = self._content.messages
        for person, identity, items in groups.values():
            reader = Reader.of(person, identity.channel, self._buttons)
            listed = [
                (await self.facts(s, alert, subject, raised_by, reader), "")
                for alert, subject, raised_by in items
            ]
            footer = messages.text("digest_footer", reader.locale)
            text = self.staff_texts.digest(listed, reader, footer=footer)
            queue_message(s, identity, text, MessageKind.ALERT, now)
            audit(
                s,
                now,
                "system",
                AuditAction.DIGEST_SENT,
                None,
                to=person.id,
                alerts=[a.id for a, _, _ in items],
            )
        return len(groups)
