"""The escalation chain on a real database (SQLite and PostgreSQL) with an injected clock.

Critical policy (config/escalation.yaml): peer now, backup after 5 min, supervisor after 10 min, then
every tier again every 10 min, 3 times; an acknowledged alert reminds its acknowledger after 30 min and
is re-opened to the rest of the team 30 min after that.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Inbound, OutboundMessage, SendResult
from bot.channels.console import ConsoleChannel
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.people.enrolment import UserError, add_person, resolve
from bot.people.oncall import oncall, set_oncall
from config.settings import Settings
from flows.severity import Severity
from storage.models import (
    AlertStatus,
    CareTeam,
    ChannelIdentity,
    CheckinSchedule,
    Outbox,
    PersonStatus,
    Role,
)
from tests.bot.careteam import ALEX_PHONE, REASON, Driver, load_alert, raise_alert, seed
from tests.conftest import START


async def test_the_full_chain_fires_on_time_when_nobody_acknowledges(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    first = drive.console.sent["sam"][-1]
    assert drive.inbox() == {"sam": [first.text]}
    assert f"CRITICAL alert #{alert_id}: Alex" in first.text
    assert [[b.payload for b in row] for row in first.buttons] == [
        [f"alert:ack:{alert_id}", f"alert:done:{alert_id}"]
    ]

    assert (await drive.at(4.9)).escalated == 0
    assert drive.inbox() == {}
    await drive.at(5)
    inbox = drive.inbox()
    assert list(inbox) == ["riley"]
    assert "Escalated to you (backup peer): not acknowledged after 5 min" in inbox["riley"][0]
    assert f"CRITICAL alert #{alert_id}" in inbox["riley"][0]
    await drive.at(9)
    assert drive.inbox() == {}
    await drive.at(10)
    inbox = drive.inbox()
    assert list(inbox) == ["dana"]
    assert "Escalated to you (supervisor)" in inbox["dana"][0]
    for repeat, minute in enumerate((20, 30, 40), 1):
        await drive.at(minute - 1)
        assert drive.inbox() == {}
        await drive.at(minute)
        inbox = drive.inbox()
        assert sorted(inbox) == ["dana", "riley", "sam"], minute
        assert all(f"repeat {repeat} of 3" in texts[0] for texts in inbox.values())
    await drive.at(50)
    await drive.at(600)
    assert drive.inbox() == {}
    alert = await load_alert(drive.app, alert_id)
    assert (alert.status, alert.escalation_level, alert.repeats, alert.next_escalation_at) == (
        AlertStatus.OPEN,
        3,
        3,
        None,
    )
    assert len(await drive.audits("alert.notified")) == 3 + 3 * 3


async def test_the_chain_stops_the_moment_someone_acknowledges(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    drive.inbox()
    await drive.at(5)
    assert list(drive.inbox()) == ["riley"]
    await drive.at(6)
    await drive.say("riley", "✅ Acknowledge", payload=f"alert:ack:{alert_id}")  # the button
    inbox = drive.inbox()
    assert inbox == {
        "riley": [
            f"✅ You acknowledged alert #{alert_id} (Alex). DONE {alert_id} <note> when it is resolved."
        ],
        "sam": [f"✅ Riley acknowledged alert #{alert_id} (Alex)."],
    }
    for minute in (10, 20, 30, 35):
        await drive.at(minute)
        assert drive.inbox() == {}, minute
    alert = await load_alert(drive.app, alert_id)
    assert alert.status == AlertStatus.ACKNOWLEDGED
    async with drive.app.db.transaction() as s:
        riley = await resolve(s, "Riley")
    assert alert.acknowledged_by == riley.id
    assert alert.acknowledged_at == START + timedelta(minutes=6)
    assert [e.detail["alert_id"] for e in await drive.audits("alert.acknowledged")] == [alert_id]


async def test_an_acknowledged_but_unresolved_alert_reminds_then_re_escalates(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    drive.inbox()
    await drive.at(2)
    await drive.say("sam", f"ACK {alert_id}")
    assert list(drive.inbox()) == ["sam"]  # nobody else had been told yet
    await drive.at(31)
    assert drive.inbox() == {}
    await drive.at(32)  # 30 min after the acknowledgement: a reminder to Sam only
    inbox = drive.inbox()
    assert list(inbox) == ["sam"]
    assert f"You acknowledged CRITICAL alert #{alert_id} (Alex) 30 min ago" in inbox["sam"][0]
    await drive.at(62)  # still unresolved: re-opened and paged to the rest of the team
    inbox = drive.inbox()
    assert sorted(inbox) == ["dana", "riley"]
    assert all("Re-opened: Sam acknowledged it 60 min ago" in texts[0] for texts in inbox.values())
    assert (await load_alert(drive.app, alert_id)).status == AlertStatus.OPEN
    await drive.at(72)  # and it keeps climbing: every tier again
    assert sorted(drive.inbox()) == ["dana", "riley", "sam"]
    await drive.say("dana", f"DONE {alert_id} spoke with Alex, safe at home with family")
    inbox = drive.inbox()
    assert sorted(inbox) == ["dana", "riley", "sam"]
    assert "Dana resolved alert" in inbox["sam"][0]
    assert "safe at home" in inbox["riley"][0]
    await drive.at(200)
    assert drive.inbox() == {}
    alert = await load_alert(drive.app, alert_id)
    assert alert.status == AlertStatus.RESOLVED
    assert alert.note == "spoke with Alex, safe at home with family"


async def _make_unavailable(app: App, name: str, how: str) -> None:
    async with app.db.transaction() as s:
        person = await resolve(s, name)
        identities = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.person_id) == person.id))
        ).all()
        for identity in identities:
            if how == "opted_out":
                identity.opted_out_at = app.clock.now()
            elif how == "unreachable":
                identity.unreachable_at = app.clock.now()
        if how == "inactive":
            person.status = PersonStatus.INACTIVE


@pytest.mark.parametrize("how", ["opted_out", "unreachable", "inactive"])
async def test_a_peer_who_cannot_be_paged_falls_through_at_once_and_the_supervisor_is_told(
    drive: Driver, how: str
) -> None:
    await _make_unavailable(drive.app, "Sam", how)
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    inbox = drive.inbox()
    assert sorted(inbox) == ["dana", "riley"]
    why = {"opted_out": "opted out", "unreachable": "unreachable", "inactive": "not active"}[how]
    assert f"Could not reach the peer Sam ({why})" in inbox["riley"][0]
    assert "Escalated" not in inbox["riley"][0]  # not a wait that ran out: the peer was skipped
    assert f"CRITICAL alert #{alert_id}" in inbox["riley"][0]
    assert f"could not reach the peer Sam ({why}). Paged instead: Riley" in inbox["dana"][0]
    await drive.at(5)  # the backup step has been taken already
    assert drive.inbox() == {}
    await drive.at(10)
    assert list(drive.inbox()) == ["dana"]
    skipped = await drive.audits("alert.tier_skipped")
    assert [(e.detail["tier"], e.detail["why"]) for e in skipped] == [("peer", how)]


async def test_no_assigned_peer_falls_through_to_the_backup(
    app: App, clock: ManualClock, console: ConsoleChannel
) -> None:
    await seed(app, peer=False)
    drive = Driver(app, clock, console, START)
    await raise_alert(app, Severity.HIGH)
    inbox = drive.inbox()
    assert sorted(inbox) == ["dana", "riley"]
    assert "Could not reach the peer (none assigned)" in inbox["riley"][0]


async def test_nobody_reachable_is_recorded_and_the_chain_keeps_trying(
    app: App, clock: ManualClock, console: ConsoleChannel
) -> None:
    await seed(app, backup=False, supervisor=False)
    drive = Driver(app, clock, console, START)
    await _make_unavailable(app, "Sam", "opted_out")
    await _make_unavailable(app, "Dana", "unreachable")  # the program's only supervisor, the last resort
    alert_id = await raise_alert(app, Severity.CRITICAL)
    assert drive.inbox() == {}
    assert [e.detail["alert_id"] for e in await drive.audits("alert.nobody_reachable")] == [alert_id]
    async with app.db.transaction() as s:  # Sam opts back in: the next repeat reaches him
        sam = await resolve(s, "Sam")
        for identity in (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.person_id) == sam.id))
        ).all():
            identity.opted_out_at = None
    await drive.at(0.5)
    assert drive.inbox() == {}
    await drive.at(10)
    assert "repeat 1 of 3" in drive.inbox()["sam"][0]


async def test_a_restart_in_the_middle_of_the_chain_neither_duplicates_nor_loses_a_page(
    db_url: str, clock: ManualClock
) -> None:
    console = ConsoleChannel()  # the network edge outlives the process (its message ids stay unique)

    def build() -> App:
        return App.build(Settings(database_url=db_url), clock=clock, channels={"console": console})

    app = build()
    await app.db.create_all()
    await seed(app)
    drive = Driver(app, clock, console, START)
    alert_id = await raise_alert(app, Severity.CRITICAL)
    assert list(drive.inbox()) == ["sam"]
    await drive.at(5, drain=False)  # the backup's page is queued, then the process dies
    await app.close()

    app = build()
    drive = Driver(app, clock, console, START)
    await app.sender.drain()
    assert list(drive.inbox()) == ["riley"]
    assert (await drive.at(5)).escalated == 0  # a second tick at the same time does nothing
    assert drive.inbox() == {}
    await app.close()

    # Down from minute 5 to minute 27: on restart the overdue supervisor step fires once; the
    # repeats count from the restart, so nobody gets a burst of catch-up pages.
    app = build()
    drive = Driver(app, clock, console, START)
    await drive.at(27)
    inbox = drive.inbox()
    assert list(inbox) == ["dana"] and len(inbox["dana"]) == 1
    await drive.at(27)
    await drive.at(36)
    assert drive.inbox() == {}
    await drive.at(37)
    assert sorted(drive.inbox()) == ["dana", "riley", "sam"]
    notified = [e.detail["to"] for e in await drive.audits("alert.notified")]
    assert len(notified) == 3 + 3
    alert = await load_alert(app, alert_id)
    assert (alert.escalation_level, alert.repeats) == (3, 1)
    await app.close()


async def test_two_workers_ticking_at_once_page_once(db_url: str, clock: ManualClock) -> None:
    consoles = [ConsoleChannel(), ConsoleChannel()]
    apps = [App.build(Settings(database_url=db_url), clock=clock, channels={"console": c}) for c in consoles]
    try:
        await apps[0].db.create_all()
        await seed(apps[0])
        await raise_alert(apps[0], Severity.CRITICAL)
        consoles[0].sent.clear()
        clock.set(START + timedelta(minutes=5))
        reports = await asyncio.gather(tick(apps[0]), tick(apps[1]))
        assert sum(r.escalated for r in reports) == 1
        for app in apps:
            await app.sender.drain()
        assert sum(len(c.sent.get("riley", [])) for c in consoles) == 1
    finally:
        for app in apps:
            await app.close()


async def test_a_page_carries_what_a_peer_needs_to_act(drive: Driver) -> None:
    await drive.say("alex", "can we talk tomorrow?")
    drive.inbox()
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    (text,) = drive.inbox()["sam"]
    assert f"HIGH alert #{alert_id}: Alex (PIR)" in text
    assert f"Why: {REASON}" in text
    assert "No check-ins yet." in text
    assert "Check-in streak: 0" in text
    assert f"Reach Alex: console, phone {ALEX_PHONE}." in text
    assert f"REPLY {alert_id} <message> writes to Alex through me." in text


async def test_a_family_alert_names_who_raised_it_and_how_to_reach_them(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.HIGH, by="Jordan")
    (text,) = drive.inbox()["sam"]
    assert f"HIGH alert #{alert_id}: about Alex, raised by Jordan (family)" in text
    assert "Reach Jordan: console." in text


async def test_a_page_over_a_channel_without_buttons_says_how_to_acknowledge(drive: Driver) -> None:
    async with drive.app.db.transaction() as s:
        await add_person(s, drive.clock.now(), role=Role.PEER, name="Sid", phone="+14155550199")
        sid = await resolve(s, "Sid")
        alex = await resolve(s, "Alex")
        team = await s.get(CareTeam, alex.id)
        assert team is not None
        team.peer_id = sid.id
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    async with drive.app.db.transaction() as s:
        row = (await s.scalars(select(Outbox).where(col(Outbox.channel) == "sms"))).one()
    assert row.buttons == []
    assert f"ACK {alert_id} to take it, DONE {alert_id} <note> when resolved" in row.body
    assert row.priority == 0


async def test_medium_alerts_wait_for_the_daily_digest(drive: Driver) -> None:
    first = await raise_alert(drive.app, Severity.MEDIUM)
    second = await raise_alert(drive.app, Severity.MEDIUM, by="Jordan")
    assert drive.inbox() == {}
    await drive.at(7 * 60 + 59)  # 16:59 in New York
    assert drive.inbox() == {}
    await drive.at(8 * 60)  # 17:00: one digest for both
    inbox = drive.inbox()
    assert list(inbox) == ["sam"] and len(inbox["sam"]) == 1
    assert (
        f"#{first}: Alex" in inbox["sam"][0] and f"#{second}: about Alex, raised by Jordan" in inbox["sam"][0]
    )
    await drive.at(32 * 60)  # the next day: nothing again
    assert drive.inbox() == {}
    assert len(await drive.audits("alert.digested")) == 2


class _Slow(ConsoleChannel):
    """A console that yields on every send, and says when the tenth check-in has gone out."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        self.tenth = asyncio.Event()
        self.paged = asyncio.Event()

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0)
        self.order.append(message.address)
        if len(self.order) == 10:
            self.tenth.set()
        if message.address == "sam":
            self.paged.set()
        return await super().send(message)


async def test_alert_pages_jump_a_morning_burst_of_check_ins(db_url: str, clock: ManualClock) -> None:
    channel = _Slow()
    app = App.build(Settings(database_url=db_url), clock=clock, channels={"console": channel})
    try:
        await app.db.create_all()
        await seed(app)
        async with app.db.transaction() as s:
            for n in range(150):
                await add_person(s, clock.now(), role=Role.PIR, name=f"pir{n}", console=f"pir{n}")
        async with app.db.transaction() as s:  # Alex's own check-in would take his message as an answer
            alex = await resolve(s, "Alex")
            for schedule in (
                await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
            ).all():
                schedule.paused = True
        clock.set(START + timedelta(days=1))
        await tick(app)  # tomorrow 09:00: 150 morning check-ins queued
        async with app.db.transaction() as s:
            queued = len((await s.scalars(select(Outbox))).all())
        assert queued > 150
        stop = asyncio.Event()
        sender = asyncio.create_task(app.sender.run(stop, idle_seconds=0.01))
        await asyncio.wait_for(channel.tenth.wait(), timeout=30)
        await raise_alert_without_drain(app)
        committed = len(channel.order)  # check-ins out by the time the alert was committed
        await asyncio.wait_for(channel.paged.wait(), timeout=30)
        stop.set()
        await sender
        position = channel.order.index("sam")
        # the check-in being sent when the alert came in may finish; everything else waits
        assert position <= committed + 1, f"the page went out {position - committed} sends after commit"
        assert committed + 20 < queued  # ...while most of the burst was still waiting
    finally:
        await app.close()


async def raise_alert_without_drain(app: App) -> None:
    await app.pipeline.handle(
        Inbound(channel="console", address="alex", text="I want to kill myself", received_at=app.clock.now())
    )


# -- one alert per open worry ---------------------------------------------------------------------------


async def test_a_new_signal_joins_the_open_alert_and_its_one_chain(drive: Driver) -> None:
    first = await raise_alert(drive.app, Severity.HIGH, reason="craving 9 of 10", category="craving")
    assert "HIGH alert" in drive.inbox()["sam"][0]
    again = await raise_alert(
        drive.app, Severity.MEDIUM, reason="craving 9 vs usual 3", category="craving_spike"
    )
    assert again == first
    assert drive.inbox() == {"sam": [f"🔺 More on alert #{first} (Alex): craving 9 vs usual 3"]}
    alert = await load_alert(drive.app, first)
    assert (alert.severity, alert.categories) == ("high", ["craving", "craving_spike"])
    assert alert.reasons == ["craving 9 of 10", "craving 9 vs usual 3"]
    await drive.at(30)  # the chain moves on once, for the one alert, carrying both reasons
    inbox = drive.inbox()
    assert list(inbox) == ["riley"] and len(inbox["riley"]) == 1
    assert "craving 9 vs usual 3" in inbox["riley"][0]
    assert [e.detail["alert_id"] for e in await drive.audits("alert.updated")] == [first]


async def test_whoever_took_the_alert_hears_what_is_new_without_buttons(drive: Driver) -> None:
    first = await raise_alert(drive.app, Severity.HIGH, reason="craving 9 of 10", category="craving")
    await drive.say("sam", f"ACK {first}")
    drive.inbox()
    await raise_alert(drive.app, Severity.HIGH, reason="used since last check-in: yes")
    delivered = drive.console.take("sam")
    assert [m.text for m in delivered] == [f"🔺 More on alert #{first} (Alex): used since last check-in: yes"]
    assert delivered[0].buttons == ()
    assert (await load_alert(drive.app, first)).status == AlertStatus.ACKNOWLEDGED


async def test_a_graver_signal_opens_an_alert_of_its_own(drive: Driver) -> None:
    first = await raise_alert(drive.app, Severity.HIGH, reason="used since last check-in: yes")
    drive.inbox()
    graver = await raise_alert(drive.app, Severity.CRITICAL, reason="wrote 'overdose'", category="overdose")
    assert graver != first
    assert "CRITICAL alert" in drive.inbox()["sam"][0]


async def test_a_second_crisis_message_still_gets_the_crisis_reply_and_joins_the_alert(drive: Driver) -> None:
    await drive.say("alex", "I want to kill myself")
    first = drive.inbox()
    assert any("988" in text for text in first["alex"]) and "CRITICAL alert #1" in first["sam"][0]
    await drive.say("alex", "i really want to die tonight")
    second = drive.inbox()
    assert any("988" in text for text in second["alex"])  # never waits on a person, never folded away
    (more,) = second["sam"]
    assert more.startswith("🔺 More on alert #1 (Alex): wrote") and "i really want to die tonight" in more


async def test_a_team_nobody_can_reach_pages_the_on_call_then_every_supervisor(
    app: App, clock: ManualClock, console: ConsoleChannel
) -> None:
    await seed(app, backup=False, supervisor=False)
    drive = Driver(app, clock, console, START)
    async with app.db.transaction() as s:
        ari = await add_person(s, clock.now(), role=Role.SUPERVISOR, name="Ari", console="ari")
        await set_oncall(s, clock.now(), ["Ari"])
    await _make_unavailable(app, "Sam", "unreachable")
    alert_id = await raise_alert(app, Severity.CRITICAL)
    paged = drive.console.take("ari")
    assert len(paged) == 1 and "On call: nobody on Alex's care team could be reached." in paged[0].text
    assert f"CRITICAL alert #{alert_id}: Alex" in paged[0].text
    assert drive.inbox() == {}  # Dana, a supervisor but not on call, is not paged while Ari can be
    assert [e.detail["to"] for e in await drive.audits("alert.oncall_paged")] == [ari.id]
    await _make_unavailable(app, "Ari", "unreachable")  # the on-call too: every supervisor
    await drive.at(10)
    inbox = drive.inbox()
    assert list(inbox) == ["dana"] and "On call: nobody on Alex's care team" in inbox["dana"][0]
    assert len(await drive.audits("alert.all_staff_paged")) == 1
    assert await drive.audits("alert.nobody_reachable") == []


@pytest.mark.parametrize("supervisor", ["active", "inactive"])
async def test_admins_are_paged_only_when_the_program_has_no_active_supervisor(
    app: App, clock: ManualClock, console: ConsoleChannel, supervisor: str
) -> None:
    await seed(app, backup=False, supervisor=False)
    drive = Driver(app, clock, console, START)
    async with app.db.transaction() as s:
        await add_person(s, clock.now(), role=Role.ADMIN, name="Ari", console="ari")
    await _make_unavailable(app, "Sam", "unreachable")
    if supervisor == "inactive":
        await _make_unavailable(app, "Dana", "inactive")
    await raise_alert(app, Severity.CRITICAL)
    paged = {who: drive.console.take(who) for who in ("dana", "ari")}
    expected = "dana" if supervisor == "active" else "ari"
    assert [who for who, got in paged.items() if got] == [expected]
    assert "nobody on Alex's care team could be reached" in paged[expected][0].text


async def test_the_on_call_is_supervisors_only(app: App) -> None:
    await seed(app)
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.ADMIN, name="Ari", console="ari")
        with pytest.raises(UserError, match=r"Sam is a peer; the on-call must be a supervisor$"):
            await set_oncall(s, app.clock.now(), ["Sam"])
        with pytest.raises(UserError, match=r"admins are never paged"):
            await set_oncall(s, app.clock.now(), ["Ari"])
        chosen = await set_oncall(s, app.clock.now(), ["Dana", "dana"])
        assert [p.name for p in chosen] == ["Dana"]
    async with app.db.transaction() as s:
        assert [p.name for p in await oncall(s)] == ["Dana"]
