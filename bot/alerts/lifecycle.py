"""The alert lifecycle in the database: paging along the escalation chain, timers, acknowledge and
resolve, reminders, re-opening, and the daily digest of medium alerts.

The chain arithmetic is pure (`flows.escalation`). Its state lives on the alert row (`escalation_level`,
`repeats`, `reminders`, `next_escalation_at`) and every page is queued in the caller's transaction, so a
page and the timer after it commit together: after a crash a step is redone or was done, never twice.

Here: starting, releasing and firing an alert's timer, acknowledge, resolve and folding. `Escalation` is
the mixins `paging` (the chain), `reminders` (acknowledged, unresolved), `digest` (medium alerts) over
`pages` (what a page says); `team` is a PIR's care team and who of it can be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.digest import Digest
from bot.alerts.pages import Rows
from bot.alerts.reminders import Reminders
from bot.alerts.team import name_of, reachable
from bot.content import Content
from bot.outbox.queue import queue_message
from bot.staff.grammar import Change, Result
from bot.staff.reader import Reader
from bot.staff.views import Fit, fit_page
from storage.models import Alert, AlertStatus, AuditAction, CareTeam, ChannelIdentity, MessageKind, Person
from storage.repo import audit


@dataclass(frozen=True, slots=True)
class Started:
    """What starting an alert's chain did: messages queued, who was paged at once, whether it is held."""

    queued: int = 0
    paged: tuple[Person, ...] = ()
    held: bool = False


class Escalation(Reminders, Digest):
    """Pages people about alerts. Built from the program content; holds no state of its own."""

    def __init__(self, content: Content, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._buttons = buttons

    # -- the chain ----------------------------------------------------------------------------------

    async def start(
        self, s: AsyncSession, alert: Alert, now: datetime, *, hold_until: datetime | None = None
    ) -> Started:
        """Set a new alert's timer; its first step (normally "peer, at once") fires in this transaction.

        `hold_until`: the first page waits until then (or until `release`), so that the signals of a
        check-in still under way join one page instead of one page each.
        """
        if self.policy.for_severity(alert.severity).digest:
            alert.next_escalation_at = await self._digest_at(s, alert, now)
            audit(
                s,
                now,
                "system",
                AuditAction.ALERT_DIGEST_SCHEDULED,
                alert.person_id,
                alert_id=alert.id,
                due=alert.next_escalation_at.isoformat(),
            )
            return Started()
        alert.next_escalation_at = self.policy.first_at(alert.severity, alert.created_at)
        if hold_until is not None and alert.next_escalation_at is not None:
            alert.next_escalation_at = max(alert.next_escalation_at, hold_until)
            audit(
                s,
                now,
                "system",
                AuditAction.ALERT_HELD,
                alert.person_id,
                alert_id=alert.id,
                until=alert.next_escalation_at.isoformat(),
            )
            return Started(held=True)
        if alert.next_escalation_at is not None and alert.next_escalation_at <= now:
            done = await self._fire(s, alert, now)
            return Started(done.queued, tuple(done.paged))
        return Started()

    async def release(self, s: AsyncSession, alert: Alert, now: datetime) -> Started:
        """A held alert's check-in is over: its first page goes now, with every reason gathered."""
        if alert.status != AlertStatus.OPEN or alert.escalation_level > 0 or alert.repeats > 0:
            return Started()
        if self.policy.for_severity(alert.severity).digest:
            return Started()  # it waits for the digest, not for a page
        if alert.next_escalation_at is None or alert.next_escalation_at <= now:
            return Started()  # the timer already fired (or the tick is about to)
        done = await self._fire(s, alert, now)
        return Started(done.queued, tuple(done.paged))

    async def fire(self, s: AsyncSession, alert: Alert, now: datetime) -> int:
        """The alert's timer has fired: page whoever is due, fall through to the next tier when nobody
        could be paged, and set the next timer. Returns how many messages were queued."""
        if alert.status == AlertStatus.RESOLVED:
            alert.next_escalation_at = None
            return 0
        if alert.status == AlertStatus.ACKNOWLEDGED:
            return await self._acknowledged_due(s, alert, now)
        if self.policy.for_severity(alert.severity).digest:
            return await self.digest(s, [alert], now)
        return (await self._fire(s, alert, now)).queued

    # -- what a page says ---------------------------------------------------------------------------

    # -- acknowledged alerts ------------------------------------------------------------------------

    async def acknowledge(self, s: AsyncSession, alert: Alert, by: Person, now: datetime) -> Change:
        """Stop the chain; the acknowledger is reminded later if it stays unresolved; the team is told."""
        if alert.status == AlertStatus.RESOLVED:
            return Change(Result.ALREADY_RESOLVED, by=await name_of(s, alert.resolved_by))
        if alert.status == AlertStatus.ACKNOWLEDGED:
            if alert.acknowledged_by == by.id:
                return Change(Result.ALREADY_MINE)
            return Change(Result.ALREADY_OTHER, by=await name_of(s, alert.acknowledged_by))
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_by = by.id
        alert.acknowledged_at = now
        alert.reminders = 0
        alert.next_escalation_at = self.policy.after_acknowledged(alert.severity, now)
        audit(s, now, f"person:{by.id}", AuditAction.ALERT_ACKNOWLEDGED, alert.person_id, alert_id=alert.id)
        queued = await self._tell_team(s, alert, by, "team_acknowledged", now, note="")
        return Change(Result.CHANGED, queued)

    async def resolve(self, s: AsyncSession, alert: Alert, by: Person, note: str, now: datetime) -> Change:
        """Close the alert with an optional note; the team is told."""
        if alert.status == AlertStatus.RESOLVED:
            return Change(Result.ALREADY_RESOLVED, by=await name_of(s, alert.resolved_by))
        if alert.acknowledged_by is None or alert.status == AlertStatus.OPEN:
            alert.acknowledged_by = by.id
            alert.acknowledged_at = now
        alert.status = AlertStatus.RESOLVED
        alert.resolved_by = by.id
        alert.resolved_at = now
        alert.note = note or None
        alert.next_escalation_at = None
        audit(
            s,
            now,
            f"person:{by.id}",
            AuditAction.ALERT_RESOLVED,
            alert.person_id,
            alert_id=alert.id,
            note=note,
        )
        queued = await self._tell_team(s, alert, by, "team_resolved", now, note=note)
        return Change(Result.CHANGED, queued)

    async def fold(
        self, s: AsyncSession, alert: Alert, categories: Sequence[str], reasons: Sequence[str], now: datetime
    ) -> Started:
        """New signals about a person whose alert is still open join that alert instead of starting a
        second chain: whoever was paged (or took it) hears what is new, once; pages to come carry it all.
        Returns who was told (nobody when nothing is new, or when the alert's first page is held)."""
        fresh = [r for r in dict.fromkeys(reasons) if r not in alert.reasons]
        new_categories = [c for c in categories if c not in alert.categories]
        alert.categories = [*alert.categories, *new_categories]
        alert.reasons = [*alert.reasons, *fresh]
        if not fresh and not new_categories:
            return Started()
        audit(
            s,
            now,
            "system",
            AuditAction.ALERT_UPDATED,
            alert.person_id,
            alert_id=alert.id,
            categories=list(categories),
        )
        subject = await s.get(Person, alert.person_id)
        assert subject is not None and alert.id is not None
        alert_id = alert.id

        def compose(person: Person, identity: ChannelIdentity) -> tuple[str, Rows]:
            text = self._content.messages.text(
                "alert_update",
                person.locale,
                alert_id=alert_id,
                name=subject.name,
                reasons="; ".join(fresh or reasons),
            )
            reader = Reader.of(person, identity.channel, self._buttons)
            if reader.sms:  # within two segments: the rest is a MORE away
                text = fit_page([(reader.shape_page(text), Fit.CUT)])
            if alert.status == AlertStatus.OPEN and reader.buttons:
                return text, self.alert_buttons(alert_id, person.locale)  # still nobody's: one tap
            return text, ()

        told = [*alert.notified, *([alert.acknowledged_by] if alert.acknowledged_by is not None else [])]
        reached = await self._tell(s, alert, told, "more", now, compose)
        return Started(len(reached), tuple(reached))

    async def _tell_team(
        self, s: AsyncSession, alert: Alert, by: Person, key: str, now: datetime, *, note: str
    ) -> int:
        """Everyone who was told about the alert, and the PIR's peer, learn who took it."""
        subject = await s.get(Person, alert.person_id)
        assert subject is not None and subject.id is not None
        team = await s.get(CareTeam, subject.id)
        recipients = [*alert.notified, *([team.peer_id] if team and team.peer_id else [])]
        messages = self._content.messages

        def compose(person: Person, identity: ChannelIdentity) -> tuple[str, Rows]:
            text = messages.text(key, person.locale, who=by.name, alert_id=alert.id, name=subject.name)
            if note:
                text += " " + messages.text("team_note", person.locale, note=note)
            return Reader.of(person, identity.channel, self._buttons).shape(text), ()

        told = await self._tell(s, alert, [pid for pid in recipients if pid != by.id], key, now, compose)
        return len(told)

    async def _tell(
        self,
        s: AsyncSession,
        alert: Alert,
        recipients: Iterable[int],
        what: str,
        now: datetime,
        compose: Callable[[Person, ChannelIdentity], tuple[str, Rows]],
    ) -> list[Person]:
        """Queue a message about `alert` to each reachable recipient (once each), audited as `what`."""
        told: list[Person] = []
        for pid in dict.fromkeys(recipients):
            person = await s.get(Person, pid)
            identity, _ = await reachable(s, person)
            if person is None or identity is None:
                continue
            text, rows = compose(person, identity)
            queue_message(s, identity, text, MessageKind.ALERT, now, rows)
            audit(
                s,
                now,
                "system",
                AuditAction.ALERT_TEAM_TOLD,
                alert.person_id,
                alert_id=alert.id,
                to=pid,
                what=what,
            )
            told.append(person)
        return told

    # -- the digest of medium alerts ----------------------------------------------------------------
