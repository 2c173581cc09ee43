"""Paging along the escalation chain: one firing of an alert's timer, tier by tier, and the last resort."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.pages import Header, PageContext, Pages
from bot.alerts.team import reachable, team_of
from bot.family.disclosures import notify_alert
from bot.ops.instruments import ALERT_TO_PAGE, ESCALATION_STEPS
from bot.outbox.queue import queue_message
from bot.people.oncall import last_resort, oncall
from bot.staff.reader import Reader
from flows.escalation import FALLBACK_TIERS, ChainState, Tier
from flows.severity import Severity
from storage.models import Alert, AuditAction, ChannelIdentity, MessageKind, Person, Role
from storage.repo import audit


@dataclass(slots=True)
class Round:
    """One firing of an alert's timer: who was paged, who could not be and why."""

    paged: list[Person] = field(default_factory=list)
    skipped: list[tuple[Tier, Person | None, str]] = field(default_factory=list)
    queued: int = 0

    def paged_ids(self) -> set[int | None]:
        return {p.id for p in self.paged}


class Paging(Pages):
    """Fires one step of an alert's chain: pages each tier that can be reached, else the last resort."""

    async def page_on_call(
        self, s: AsyncSession, compose: Callable[[Person], str], now: datetime, *, what: str
    ) -> list[Person]:
        """Page the program's on-call (else every supervisor) about something with no care
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

    async def _fire(self, s: AsyncSession, alert: Alert, now: datetime) -> Round:
        severity = alert.severity
        before = ChainState(alert.escalation_level, alert.repeats)
        due = self.policy.due(severity, before, alert.created_at, now)
        ctx = await self._context(s, alert)
        done = Round()
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

    async def _last_resort(self, s: AsyncSession, ctx: PageContext, done: Round, now: datetime) -> None:
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
        self, s: AsyncSession, ctx: PageContext, tier: Tier, done: Round, headers: list[Header], now: datetime
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

    async def _tell_supervisor(self, s: AsyncSession, ctx: PageContext, done: Round, now: datetime) -> int:
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
        ctx: PageContext,
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
        first_told = not alert.notified and message is not None
        ESCALATION_STEPS.labels(str(tier)).inc()
        if first_told:
            ALERT_TO_PAGE.labels(alert.severity).observe(max(0.0, (now - alert.created_at).total_seconds()))
        if person.id not in alert.notified:
            alert.notified = [*alert.notified, person.id]
        if (
            first_told
            and ctx.subject.role == Role.PIR
            and Severity(alert.severity).rank() >= Severity.HIGH.rank()
        ):
            # A human now has it: family with an `alerts` consent hear that, and never what it is about.
            await notify_alert(s, self._content.messages, ctx.subject, alert.raised_by_id or 0, now)
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
