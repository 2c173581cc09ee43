"""A small program for escalation and peer-command tests: PIR Alex with peer Sam, backup Riley and
supervisor Dana; family member Jordan linked to Alex (weekly status shared); peer Pat, who is on
nobody's team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.alerts.raising import Alerting, Signal
from bot.app import App
from bot.channels.base import Inbound
from bot.channels.console import ConsoleChannel
from bot.checkins.tick import TickReport, tick
from bot.clock import ManualClock
from bot.people.enrolment import add_person, assign, link_family, resolve
from flows.severity import Severity
from storage.models import Alert, AuditEvent, CareTeam, ChannelIdentity, Role, ShareScope


async def load_alert(app: App, alert_id: int) -> Alert:
    async with app.db.transaction() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None
        return alert


PEOPLE = ("alex", "sam", "riley", "dana", "jordan", "pat", "stranger")
ALEX_PHONE = "+14155550123"
REASON = "wrote 'SECRET-REASON'"


async def seed(app: App, *, backup: bool = True, supervisor: bool = True, peer: bool = True) -> None:
    now = app.clock.now()
    async with app.db.transaction() as s:
        alex = await add_person(s, now, role=Role.PIR, name="Alex", console="alex")
        assert alex.id is not None  # a phone too, to call; messages go to the console first
        s.add(
            ChannelIdentity(
                person_id=alex.id, channel="sms", address=ALEX_PHONE, consent_at=now, created_at=now
            )
        )
        await add_person(s, now, role=Role.PEER, name="Sam", console="sam")
        await add_person(s, now, role=Role.PEER, name="Riley", console="riley")
        await add_person(s, now, role=Role.SUPERVISOR, name="Dana", console="dana")
        await add_person(s, now, role=Role.FAMILY, name="Jordan", console="jordan")
        await add_person(s, now, role=Role.PEER, name="Pat", console="pat")
        await assign(
            s,
            now,
            pir="Alex",
            peer="Sam",
            backup="Riley" if backup else None,
            supervisor="Dana" if supervisor else None,
        )
        await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope.STATUS)
        if not peer:
            team = await s.get(CareTeam, alex.id)
            assert team is not None
            team.peer_id = None


async def raise_alert(
    app: App, severity: Severity, *, by: str = "Alex", reason: str = REASON, category: str = "use"
) -> int:
    """An alert about Alex, as the pipeline would raise it, then delivery; returns its id."""
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        raiser = await resolve(s, by)
        raised = await Alerting(app.content, app.buttons).raise_alert(
            s,
            subject=alex,
            raised_by=raiser,
            signals=[Signal(severity, (category,), (reason,))],
            now=app.clock.now(),
            message_id=None,
            session_id=None,
            reply_to=None,
        )
    await app.sender.drain()
    assert raised.alert_id is not None
    return raised.alert_id


@dataclass
class Driver:
    """Moves the clock, ticks, sends messages as people and reads their inboxes."""

    app: App
    clock: ManualClock
    console: ConsoleChannel
    start: datetime
    counter: int = 0

    async def at(self, minutes: float, *, drain: bool = True) -> TickReport:
        self.clock.set(self.start + timedelta(minutes=minutes))
        report = await tick(self.app)
        if drain:
            await self.app.sender.drain()
        return report

    async def say(
        self, who: str, text: str, payload: str | None = None, *, address: str | None = None
    ) -> None:
        self.counter += 1
        await self.app.pipeline.handle(
            Inbound(
                channel="console",
                address=address or who,
                text=text,
                payload=payload,
                provider_id=f"test:{self.counter}",
                received_at=self.clock.now(),
            )
        )
        await self.app.sender.drain()

    def inbox(self) -> dict[str, list[str]]:
        """Everything delivered since the last look, per person who got something."""
        got = {who: [m.text for m in self.console.take(who)] for who in PEOPLE}
        return {who: texts for who, texts in got.items() if texts}

    async def audits(self, action: str) -> list[AuditEvent]:
        async with self.app.db.transaction() as s:
            rows = await s.scalars(
                select(AuditEvent).where(col(AuditEvent.action) == action).order_by(col(AuditEvent.id))
            )
            return list(rows.all())
