"""What staff read on SMS and Telegram: alert pages within two GSM-7 segments, the full alert on request
(MORE), CASELOAD led by who needs attention and paged, names instead of ids, times with their zone.

Everything runs through the real pipeline over SMS (Twilio faked at its HTTP API), on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.raising import Alerting, Signal
from bot.app import App
from bot.checkins.sessions import start_checkin
from bot.clock import ManualClock
from bot.people.enrolment import add_person, assign, link_family, resolve
from flows.severity import Severity
from flows.sms_text import MAX_SEGMENTS, encoding, segment_info
from storage.models import Alert, FlowSession, Role, SessionStatus, ShareScope
from tests.bot.careteam import Driver, raise_alert
from tests.fakes.sms_world import SmsWorld, sms_world

ALEX = "+12025550143"
SAM = "+12025550101"
JORDAN = "+12025550188"

# A week as people write it: emoji, a typographic apostrophe, long notes for the peer.
CHECKINS = (
    (
        "2",
        "9",
        "yes",
        "I drank at my cousin’s party after the fight with my sister, I feel like I let "
        "everyone down again 😞😞",
        "no",
        "please call me after work, I get off at 5 🙏",
    ),
    ("3", "6", "no", "no", "rough night, couldn't sleep, my sponsor is out of town this week"),
    ("1", "10", "yes", "SKIP", "no", "SKIP"),
)
CRISIS = (
    "I can’t do this anymore. I have the pills my doctor gave me and I want to end it all tonight, "
    "I’m sorry for everything 💔💔"
)


@pytest.fixture
async def world(db_url: str, clock: ManualClock) -> AsyncIterator[SmsWorld]:
    async with sms_world(db_url, clock, program_name="Peerline") as w:
        now = clock.now()
        async with w.app.db.transaction() as s:
            await add_person(s, now, role=Role.PEER, name="Sam", phone=SAM, timezone="America/Chicago")
            await add_person(s, now, role=Role.PIR, name="Alex", phone=ALEX, timezone="America/Chicago")
            await add_person(s, now, role=Role.FAMILY, name="Jordan", phone=JORDAN)
            await assign(s, now, pir="Alex", peer="Sam")
            await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope.ALERTS)
        await w.deliver()
        for number in (ALEX, SAM, JORDAN):
            w.twilio.take(number)
        yield w


async def checkin(world: SmsWorld, answers: tuple[str, ...]) -> None:
    app = world.app
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, app.content, alex, "daily_checkin", app.clock.now(), app.buttons)
    await world.deliver()
    for answer in answers:
        await world.text(ALEX, answer)


async def a_hard_week(world: SmsWorld, clock: ManualClock) -> list[str]:
    """Three check-ins a day apart (two with use), then a crisis; everything Sam was sent."""
    sent: list[str] = []
    for answers in CHECKINS:
        await checkin(world, answers)
        sent += world.twilio.take(SAM)
        clock.advance(timedelta(days=1))
    await world.text(ALEX, CRISIS)
    return [*sent, *world.twilio.take(SAM)]


def assert_one_page(text: str) -> None:
    info = segment_info(text)
    assert encoding(text) == "GSM-7", f"not GSM-7: {text!r}"
    assert info.segments <= MAX_SEGMENTS, f"{info.segments} segments ({info.units} septets): {text!r}"


async def test_every_page_to_a_peer_on_sms_is_gsm7_within_two_segments(
    world: SmsWorld, clock: ManualClock
) -> None:
    sent = await a_hard_week(world, clock)
    pages = [text for text in sent if "alert #" in text]
    assert len(pages) >= 3, sent
    for text in pages:
        assert_one_page(text)
    relays = [text for text in sent if "Alex (PIR) wrote:" in text]  # Alex's own words, emoji and all
    assert len(relays) + len(pages) == len(sent), sent
    critical = next(text for text in pages if "CRITICAL" in text)
    async with world.app.db.transaction() as s:
        alert = (await s.scalars(select(Alert).where(col(Alert.severity) == "critical"))).one()
    assert f"CRITICAL alert #{alert.id}: Alex" in critical
    assert "end it all" in critical  # why, even when cut
    assert ALEX in critical  # how to reach
    assert f"ACK {alert.id}" in critical and f"MORE {alert.id}" in critical


async def test_more_gives_the_whole_alert_over_sms(world: SmsWorld, clock: ManualClock) -> None:
    await a_hard_week(world, clock)
    async with world.app.db.transaction() as s:
        alert = (await s.scalars(select(Alert).where(col(Alert.severity) == "critical"))).one()
    await world.text(SAM, f"MORE {alert.id}")
    (full,) = world.twilio.take(SAM)
    assert encoding(full) == "GSM-7", full  # the content allows it: emoji and curly quotes go
    assert "I want to end it all tonight, I'm sorry for everything" in full  # every reason, whole
    assert "Status: open, raised Thu 5 Mar 8:00 AM CST" in full  # Sam's zone, named
    assert "Wed 4 Mar" in full and "Tue 3 Mar" in full and "Mon 2 Mar" in full  # the check-ins
    assert "craving 10" in full and "used since last check-in: yes" in full  # labels, never step ids
    assert "Check-in streak: 3 in a row." in full
    assert f"Reach Alex: phone {ALEX}." in full
    await world.text(SAM, "more 999")
    assert world.twilio.take(SAM) == ["No alert #999 on your caseload."]
    await world.text(SAM, "MORE")
    assert world.twilio.take(SAM) == ["Use: MORE <alert number>, e.g. MORE 12."]


async def test_a_family_page_over_sms_names_who_raised_it_and_how_to_reach_both(world: SmsWorld) -> None:
    found = "I found him on the bathroom floor, he is not breathing and his lips are blue 😱"
    await world.text(JORDAN, found)
    pages = [text for text in world.twilio.take(SAM) if "alert #" in text]
    assert pages
    for page in pages:
        assert_one_page(page)
    assert "raised by Jordan (family)" in pages[0]
    assert ALEX in pages[0] and JORDAN in pages[0]


PIRS = 40


async def test_caseload_of_forty_over_sms_leads_with_who_needs_attention_and_pages_the_rest(
    world: SmsWorld, clock: ManualClock
) -> None:
    app = world.app
    now = clock.now()
    names = [f"Person{n:02d} Example" for n in range(PIRS)]
    async with app.db.transaction() as s:
        for n, name in enumerate(names):
            await add_person(s, now, role=Role.PIR, name=name, timezone="America/Chicago")
            await assign(s, now, pir=name, peer="Sam")
            person = await resolve(s, name)
            assert person.id is not None
            s.add(  # a check-in each: the last seven missed theirs
                FlowSession(
                    person_id=person.id,
                    flow_id="daily_checkin",
                    channel="sms",
                    status=SessionStatus.EXPIRED if n >= PIRS - 7 else SessionStatus.COMPLETED,
                    local_date="2026-03-01",
                    started_at=now - timedelta(days=1),
                    updated_at=now - timedelta(days=1),
                )
            )
    for n in (5, 17):
        async with app.db.transaction() as s:
            await raise_about(app, s, names[n])
    await world.deliver()
    world.twilio.take(SAM)

    await world.text(SAM, "CASELOAD")
    (first,) = world.twilio.take(SAM)
    header, *lines = first.split("\n")
    assert header.startswith(f"Caseload {PIRS + 1}, page 1 of ")
    assert header.endswith("(9 need attention):")
    assert lines[0].startswith((names[5], names[17])) and "HIGH" in lines[0]  # open alerts first
    assert lines[-1] == "CASELOAD 2 for the next page."
    count = int(header.split(" of ")[1].split(" ")[0])
    texts = [first]
    for page in range(2, count + 1):
        await world.text(SAM, f"caseload {page}")
        texts += world.twilio.take(SAM)
    for text in texts:
        assert_one_page(text)
        assert not re.search(r"@\d", text)  # names, never ids
    everything = "\n".join(texts)
    assert all(everything.count(name) == 1 for name in names)  # everyone, once
    detail = [line for text in texts for line in text.split("\n")[1:] if re.search(r"(: |; )last ", line)]
    attention = {names[5], names[17], *names[PIRS - 7 :]}
    assert {line.split(":")[0] for line in detail} == attention  # line by line: who needs attention
    assert texts[-1].split("\n")[-1].startswith("No alerts, no missed check-ins: ")  # the rest, by name
    await world.text(SAM, f"CASELOAD {count + 1}")
    assert world.twilio.take(SAM) == [
        f"There is no page {count + 1}: your caseload has {count}. CASELOAD for the first."
    ]


async def raise_about(app: App, s: AsyncSession, name: str) -> None:
    person = await resolve(s, name)
    await Alerting(app.content, app.buttons).raise_alert(
        s,
        subject=person,
        raised_by=person,
        signals=[Signal(Severity.HIGH, ("use",), ("wrote \"picked up\": 'I picked up again'",))],
        now=app.clock.now(),
        message_id=None,
        session_id=None,
        reply_to=None,
    )


# -- on a channel with buttons (the console stands in for Telegram) ------------------------------------


async def _checkin_by_buttons(drive: Driver) -> None:
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, drive.app.content, alex, "daily_checkin", drive.clock.now(), drive.app.buttons)
    for label, payload in (("2", "mood:2"), ("9", "craving:9"), ("No", "used:no"), ("No", "safety:no")):
        await drive.say("alex", label, payload)
    await drive.say("alex", "SKIP")
    drive.inbox()


async def test_history_names_steps_and_categories_in_words_and_times_in_the_readers_zone(
    drive: Driver,
) -> None:
    await _checkin_by_buttons(drive)
    async with drive.app.db.transaction() as s:
        dana = await resolve(s, "Dana")
        dana.locale, dana.timezone = "es", "Europe/Madrid"
    await drive.say("sam", "HISTORY Alex")
    (text,) = drive.inbox()["sam"]
    for leak in ("used:no", "[", "use_more", "anything_else", "craving_spike", "@"):
        assert leak not in text, (leak, text)
    assert "craving 9, used since last check-in: no" in text
    assert "HIGH craving: open" in text
    assert "• Mon 2 Mar 9:00 AM EST ← No\n" in text  # the button pressed, as Alex saw it
    await drive.say("dana", "HISTORY Alex")
    (texto,) = drive.inbox()["dana"]
    assert "ganas de consumir 9, consumió desde el último check-in: no" in texto
    assert "ALTA ganas de consumir: abierta" in texto  # the category in words, in Spanish
    assert "• lun 2 mar 15:00 CET ← No\n" in texto


async def test_more_on_telegram_has_everything_and_the_buttons(drive: Driver) -> None:
    await _checkin_by_buttons(drive)
    alert_id = await raise_alert(drive.app, Severity.CRITICAL, reason="wrote 'I want to end it all 💔'")
    drive.inbox()
    await drive.say("sam", f"/more {alert_id}")
    (reply,) = drive.console.take("sam")
    assert reply.text.startswith(f"🚨 CRITICAL alert #{alert_id}: Alex (PIR)\nStatus: open, raised Mon 2 Mar")
    assert "- wrote 'I want to end it all 💔'" in reply.text  # nothing taken out on Telegram
    assert "Check-in streak: 1 in a row." in reply.text
    assert [[b.payload for b in row] for row in reply.buttons] == [
        [f"alert:ack:{alert_id}", f"alert:done:{alert_id}"]
    ]
    await drive.say("sam", f"ACK {alert_id}")
    drive.inbox()
    await drive.say("riley", f"more #{alert_id}")
    (text,) = drive.inbox()["riley"]
    assert "Acknowledged by Sam, Mon 2 Mar 9:00 AM EST." in text
    await drive.say("pat", f"MORE {alert_id}")  # not on Alex's team: as if it did not exist
    assert drive.inbox() == {"pat": [f"No alert #{alert_id} on your caseload."]}
