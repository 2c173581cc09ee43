"""The alert lifecycle in the database: paging along the escalation chain, timers, acknowledge and
resolve, reminders, re-opening, and the daily digest of medium alerts.

The chain arithmetic is pure (`flows.escalation`). Its state lives on the alert row (`escalation_level`,
`repeats`, `reminders`, `next_escalation_at`) and every page is queued in the caller's transaction, so a
page and the timer after it commit together: after a crash a step is redone or was done, never twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.base import Button
from bot.checkins.local_time import next_due
from bot.content import Content
from bot.outbox.queue import queue_message
from bot.people.oncall import last_resort, oncall
from bot.staff.caseload import Summary, reach_text, summary
from bot.staff.grammar import Change, Result, ack_payload, done_payload
from bot.staff.reader import Reader
from bot.staff.texts import AlertFacts, Fit, StaffTexts, fit_page
from flows.escalation import FALLBACK_TIERS, ChainState, EscalationPolicy, Tier
from storage.models import (
    Alert,
    AlertStatus,
    AuditAction,
    CareTeam,
    ChannelIdentity,
    MessageKind,
    Person,
    PersonStatus,
)
from storage.repo import audit, identities_of

Rows = tuple[tuple[Button, ...], ...]  # keyboard rows of an outbound message


@dataclass(slots=True)
class _Context:
    alert: Alert
    subject: Person
    raised_by: Person | None
    team: dict[Tier, Person | None]
    summary: Summary


@dataclass(slots=True)
class _Round:
    """One firing of an alert's timer: who was paged, who could not be and why."""

    paged: list[Person] = field(default_factory=list)
    skipped: list[tuple[Tier, Person | None, str]] = field(default_factory=list)
    queued: int = 0

    def paged_ids(self) -> set[int | None]:
        return {p.id for p in self.paged}


@dataclass(frozen=True, slots=True)
class Started:
    """What starting an alert's chain did: messages queued, who was paged at once, whether it is held."""

    queued: int = 0
    paged: tuple[Person, ...] = ()
    held: bool = False


Header = tuple[str, Mapping[str, Any]]


class Escalation:
    """Pages people about alerts. Built from the program content; holds no state of its own."""

    def __init__(self, content: Content, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._buttons = buttons

    @property
    def policy(self) -> EscalationPolicy:
        return self._content.escalation

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

    async def page_on_call(
        self, s: AsyncSession, compose: Callable[[Person], str], now: datetime, *, what: str
    ) -> list[Person]:
        """Page the program's on-call (else every supervisor and admin) about something with no care
        team, such as a stranger in crisis. Returns who was paged."""
        for group in (await oncall(s), await last_resort(s)):
            paged: list[Person] = []
            for person in group:
                identity, _ = await reachable(s, person)
                if identity is None:
                    continue
                queue_message(s, identity, compose(person), MessageKind.ALERT, now)
                audit(s, now, "system", AuditAction.ONCALL_PAGED, None, to=person.id, what=what)
                paged.append(person)
            if paged:
                return paged
        audit(s, now, "system", AuditAction.ONCALL_NOBODY_REACHABLE, None, what=what)
        return []

    async def would_reach(self, s: AsyncSession, alert: Alert) -> Person | None:
        """Who a held alert's first page will reach: the first reachable person of its chain, else the
        on-call, else any supervisor or admin. None when nobody could be reached at all."""
        team = await team_of(s, alert.person_id)
        tiers = self.policy.for_severity(alert.severity).tiers or FALLBACK_TIERS
        for person in [team.get(tier) for tier in tiers]:
            if (await reachable(s, person))[0] is not None:
                return person
        for fetch in (oncall, last_resort):  # read only when nobody on the team can be reached
            for staff in await fetch(s):
                if (await reachable(s, staff))[0] is not None:
                    return staff
        return None

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

    async def _fire(self, s: AsyncSession, alert: Alert, now: datetime) -> _Round:
        severity = alert.severity
        before = ChainState(alert.escalation_level, alert.repeats)
        due = self.policy.due(severity, before, alert.created_at, now)
        ctx = await self._context(s, alert)
        done = _Round()
        for offset, tier in enumerate(due.tiers):
            if due.repeat:
                header: Header = (
                    "alert_repeat",
                    {"n": due.state.repeats, "times": self._repeat_times(alert)},
                )
            else:
                header = self._step_header(alert, before.level + offset, tier, now)
            await self._try_tier(s, ctx, tier, done, [header], now)
        state, next_at = due.state, due.next_at
        if due.tiers and not done.paged and not due.repeat:
            while (step := self.policy.fall_through(severity, state)) is not None:
                tier, following = step
                header = self._step_header(alert, state.level, tier, now)
                state = following
                if await self._try_tier(s, ctx, tier, done, [header], now):
                    break
            next_at = self.policy.next_at(severity, state, alert.created_at, now)
        if due.tiers and not done.paged:
            await self._last_resort(s, ctx, done, now)
        done.queued = len(done.paged)
        done.queued += await self._tell_supervisor(s, ctx, done, now)
        if due.tiers and not done.paged:
            audit(s, now, "system", AuditAction.ALERT_NOBODY_REACHABLE, alert.person_id, alert_id=alert.id)
        alert.escalation_level, alert.repeats = state.level, state.repeats
        alert.next_escalation_at = next_at
        audit(
            s,
            now,
            "system",
            AuditAction.ALERT_ESCALATED if due.tiers else AuditAction.ALERT_TIMER,
            alert.person_id,
            alert_id=alert.id,
            level=state.level,
            repeats=state.repeats,
            next_at=next_at.isoformat() if next_at else None,
        )
        return done

    async def _last_resort(self, s: AsyncSession, ctx: _Context, done: _Round, now: datetime) -> None:
        """Nobody in the care team could be paged: the program's on-call, and if none of them can be
        reached either, every active supervisor and admin. Nobody is left untold."""
        for group, action in (
            (await oncall(s), AuditAction.ALERT_ONCALL_PAGED),
            (await last_resort(s), AuditAction.ALERT_ALL_STAFF_PAGED),
        ):
            header: Header = ("alert_oncall", {"name": ctx.subject.name, "skipped": done.skipped})
            for person in group:
                if person.id in done.paged_ids():
                    continue
                identity, _ = await reachable(s, person)
                if identity is None:
                    continue
                await self._page(s, ctx, person, identity, [header], now, tier="oncall")
                done.paged.append(person)
                audit(s, now, "system", action, ctx.alert.person_id, alert_id=ctx.alert.id, to=person.id)
            if done.paged:
                return

    def _repeat_times(self, alert: Alert) -> int:
        repeat = self.policy.for_severity(alert.severity).repeat
        return repeat.times if repeat is not None else 0

    def _step_header(self, alert: Alert, index: int, tier: Tier, now: datetime) -> Header:
        minutes = int((now - alert.created_at).total_seconds() // 60)
        if index == 0 or minutes < 1:  # the first step, or a fall-through at once (its note says why)
            return ("", {})
        return ("alert_escalated", {"tier": tier, "minutes": minutes})

    async def _try_tier(
        self, s: AsyncSession, ctx: _Context, tier: Tier, done: _Round, headers: list[Header], now: datetime
    ) -> bool:
        """Page the person in `tier`; a missing or unreachable one is recorded as skipped."""
        person = ctx.team.get(tier)
        if person is not None and person.id in done.paged_ids():
            return True  # one person in two tiers is paged once per round
        identity, why = await reachable(s, person)
        if identity is None or person is None:
            done.skipped.append((tier, person, why))
            audit(
                s,
                now,
                "system",
                AuditAction.ALERT_TIER_SKIPPED,
                ctx.alert.person_id,
                alert_id=ctx.alert.id,
                tier=str(tier),
                to=person.id if person else None,
                why=why,
            )
            return False
        if done.skipped:
            headers = [*headers, ("alert_skipped", {"skipped": done.skipped})]
        await self._page(s, ctx, person, identity, headers, now, tier=tier)
        done.paged.append(person)
        return True

    async def _tell_supervisor(self, s: AsyncSession, ctx: _Context, done: _Round, now: datetime) -> int:
        """Tiers were skipped: the supervisor hears of it, unless they were just paged (and told) anyway."""
        supervisor = ctx.team.get(Tier.SUPERVISOR)
        if not done.skipped or supervisor is None or supervisor.id in done.paged_ids():
            return 0
        identity, _ = await reachable(s, supervisor)
        if identity is None:
            return 0
        header: Header = ("alert_supervisor_told", {"skipped": done.skipped, "paged": list(done.paged)})
        await self._page(s, ctx, supervisor, identity, [header], now, tier=Tier.SUPERVISOR)
        audit(s, now, "system", AuditAction.ALERT_SUPERVISOR_TOLD, ctx.alert.person_id, alert_id=ctx.alert.id)
        return 1

    async def _page(
        self,
        s: AsyncSession,
        ctx: _Context,
        person: Person,
        identity: ChannelIdentity,
        headers: Sequence[Header],
        now: datetime,
        *,
        tier: str,
    ) -> None:
        alert = ctx.alert
        assert alert.id is not None and person.id is not None
        reader = Reader.of(person, identity.channel, self._buttons)
        text = await self._render(s, ctx, reader, headers)
        rows = self.alert_buttons(alert.id, person.locale) if reader.buttons else ()
        message = queue_message(s, identity, text, MessageKind.ALERT, now, rows)
        if person.id not in alert.notified:
            alert.notified = [*alert.notified, person.id]
        audit(
            s,
            now,
            "system",
            AuditAction.ALERT_NOTIFIED,
            alert.person_id,
            alert_id=alert.id,
            to=person.id,
            tier=str(tier),
            level=alert.escalation_level,
            message_id=message,  # written as the message's id (storage.appends)
        )

    def alert_buttons(self, alert_id: int, locale: str) -> Rows:
        messages = self._content.messages
        return (
            (
                Button(messages.text("button_ack", locale), ack_payload(alert_id)),
                Button(messages.text("button_done", locale), done_payload(alert_id)),
            ),
        )

    # -- what a page says ---------------------------------------------------------------------------

    async def _context(self, s: AsyncSession, alert: Alert) -> _Context:
        subject = await s.get(Person, alert.person_id)
        assert subject is not None and subject.id is not None
        raised_by = await s.get(Person, alert.raised_by_id) if alert.raised_by_id is not None else None
        return _Context(alert, subject, raised_by, await team_of(s, subject.id), await summary(s, subject.id))

    @property
    def staff_texts(self) -> StaffTexts:
        return StaffTexts(self._content)

    def _header(self, header: Header, reader: Reader) -> str:
        key, values = header
        if not key:
            return ""
        messages, locale = self._content.messages, reader.locale
        shown = dict(values)
        if "tier" in shown:
            shown["tier"] = messages.text(f"tier_{shown['tier']}", locale)
        if "skipped" in shown:
            shown["skipped"] = "; ".join(
                messages.text(
                    "skipped_one",
                    locale,
                    tier=messages.text(f"tier_{tier}", locale),
                    name=person.name if person else "",
                    why=messages.text(f"why_{why}", locale),
                ).replace("  ", " ")
                for tier, person, why in values["skipped"]
            )
        if "paged" in shown:
            paged = values["paged"]
            shown["paged"] = ", ".join(p.name for p in paged) if paged else messages.text("nobody", locale)
        return messages.text(key, locale, **shown)

    async def facts(
        self,
        s: AsyncSession,
        alert: Alert,
        subject: Person,
        raised_by: Person | None,
        reader: Reader,
        seen: Summary | None = None,
    ) -> AlertFacts:
        """What staff texts say about `alert`, read for `reader` (how to reach people, in their words)."""
        assert alert.id is not None
        messages = self._content.messages
        family = raised_by is not None and raised_by.id != subject.id
        reach = [(subject.name, await reach_text(s, subject, messages, reader.locale))]
        if family and raised_by is not None:
            reach.append((raised_by.name, await reach_text(s, raised_by, messages, reader.locale)))
        acker = await s.get(Person, alert.acknowledged_by) if alert.acknowledged_by is not None else None
        return AlertFacts(
            alert_id=alert.id,
            severity=alert.severity,
            status=alert.status,
            subject=subject.name,
            role=subject.role,
            reasons=tuple(alert.reasons),
            created_at=alert.created_at,
            raised_by=raised_by.name if family and raised_by is not None else None,
            recent=seen.recent if seen else (),
            streak=seen.streak if seen else 0,
            reach=tuple(reach),
            acknowledged_by=acker.name if acker is not None else None,
            acknowledged_at=alert.acknowledged_at,
        )

    async def _render(self, s: AsyncSession, ctx: _Context, reader: Reader, headers: Sequence[Header]) -> str:
        """The page: why it reached you, who, severity, why, recent check-ins, streak, how to reach them."""
        facts = await self.facts(s, ctx.alert, ctx.subject, ctx.raised_by, reader, ctx.summary)
        return self.staff_texts.page(facts, reader, [self._header(h, reader) for h in headers])

    async def alert_line(
        self, s: AsyncSession, alert: Alert, subject: Person, raised_by: Person | None, reader: Reader
    ) -> str:
        """`🚨 CRITICAL alert #12: Alex (PIR)` and why."""
        return self.staff_texts.alert_line(await self.facts(s, alert, subject, raised_by, reader), reader)

    # -- acknowledged alerts ------------------------------------------------------------------------

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
        done = _Round()
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

    async def acknowledge(self, s: AsyncSession, alert: Alert, by: Person, now: datetime) -> Change:
        """Stop the chain; the acknowledger is reminded later if it stays unresolved; the team is told."""
        if alert.status == AlertStatus.RESOLVED:
            return Change(Result.ALREADY_RESOLVED, by=await _name(s, alert.resolved_by))
        if alert.status == AlertStatus.ACKNOWLEDGED:
            if alert.acknowledged_by == by.id:
                return Change(Result.ALREADY_MINE)
            return Change(Result.ALREADY_OTHER, by=await _name(s, alert.acknowledged_by))
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
            return Change(Result.ALREADY_RESOLVED, by=await _name(s, alert.resolved_by))
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


async def team_of(s: AsyncSession, pir_id: int) -> dict[Tier, Person | None]:
    team = await s.get(CareTeam, pir_id)
    ids = {
        Tier.PEER: team.peer_id if team else None,
        Tier.BACKUP: team.backup_id if team else None,
        Tier.SUPERVISOR: team.supervisor_id if team else None,
    }
    return {tier: await s.get(Person, pid) if pid is not None else None for tier, pid in ids.items()}


async def reachable(s: AsyncSession, person: Person | None) -> tuple[ChannelIdentity | None, str]:
    """The identity to page a staff member on, or None and why not (a `why_*` message key suffix)."""
    if person is None or person.id is None:
        return None, "none_assigned"
    if person.status != PersonStatus.ACTIVE:
        return None, "inactive"
    identities = await identities_of(s, person.id)
    for identity in identities:
        if identity.opted_out_at is None and identity.unreachable_at is None:
            return identity, ""
    if not identities:
        return None, "no_channel"
    if all(i.opted_out_at is not None for i in identities):
        return None, "opted_out"
    return None, "unreachable"


async def _name(s: AsyncSession, person_id: int | None) -> str | None:
    person = await s.get(Person, person_id) if person_id is not None else None
    return person.name if person is not None else None
