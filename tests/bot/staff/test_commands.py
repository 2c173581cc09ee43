"""Peer commands through the real pipeline, on SQLite and PostgreSQL, and who may use them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from bot.channels.base import Inbound
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import add_person, assign, resolve
from bot.staff.grammar import Verb, looks_like_command, parse
from flows.severity import Severity
from storage.models import (
    AlertStatus,
    AuditEvent,
    ChannelIdentity,
    CheckinSchedule,
    ContactNote,
    FlowSession,
    Message,
    Outbox,
    Role,
)
from tests.bot.careteam import ALEX_PHONE, REASON, Driver, load_alert, raise_alert


async def _checkin(drive: Driver, answers: list[str]) -> None:
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, drive.app.content, alex, "daily_checkin", drive.clock.now(), drive.app.buttons)
    for answer in answers:
        await drive.say("alex", answer)
    drive.inbox()


# -- parsing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "payload", "verb", "args"),
    [
        ("ACK 12", None, Verb.ACK, "12"),
        ("ack", None, Verb.ACK, ""),
        ("/ack 12", None, Verb.ACK, "12"),
        ("/caseload@PeerlineBot", None, Verb.CASELOAD, ""),
        ("DONE 12 called her,  safe", None, Verb.DONE, "12 called her,  safe"),
        ("resolve 3", None, Verb.DONE, "3"),
        ("@Alex see you at 5", None, Verb.REPLY, "@Alex see you at 5"),
        ("#12 on my way", None, Verb.REPLY, "#12 on my way"),
        ("HELP", None, Verb.COMMANDS, ""),
        ("✅ Acknowledge", "alert:ack:12", Verb.ACK, "12"),
        ("☑️ Resolve", "alert:done:12", Verb.DONE, "12"),
        ("hello there", None, None, "there"),
    ],
)
def test_parse(text: str, payload: str | None, verb: Verb | None, args: str) -> None:
    command = parse(text, payload)
    assert (command.verb, command.args) == (verb, args)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ACK", True),
        ("ACK 12", True),
        ("/caseload", True),
        ("DONE 4 ok", True),
        ("HISTORY Alex", True),
        ("NOTE Alex 20 phone hi", True),
        ("done", False),  # a PIR's "done" is an answer, not a command
        ("DONE", False),
        ("Done 4", False),
        ("history of my family is hard", False),
        ("NOTE: I feel bad", False),
        ("@Sam hi", False),  # a PIR writing to their peer
        ("/help", False),  # compliance HELP, answered before this
    ],
)
def test_what_counts_as_a_command_from_someone_who_is_not_staff(text: str, expected: bool) -> None:
    assert looks_like_command(text, None) is expected


# -- alerts -------------------------------------------------------------------------------------------


async def test_acknowledge_and_resolve_by_text(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    drive.inbox()
    await drive.say("sam", f"ACK {alert_id}")
    assert drive.inbox() == {
        "sam": [f"✅ You acknowledged alert #{alert_id} (Alex). DONE {alert_id} <note> when it is resolved."]
    }
    await drive.say("sam", f"ACK {alert_id}")
    assert drive.inbox() == {"sam": [f"You already acknowledged alert #{alert_id} (Alex)."]}
    await drive.say("riley", f"ack #{alert_id}")
    assert drive.inbox() == {"riley": [f"Alert #{alert_id} (Alex) was already acknowledged by Sam."]}
    await drive.say("sam", f"DONE {alert_id} talked by phone, he is safe; meeting tomorrow")
    inbox = drive.inbox()
    assert list(inbox) == ["sam"] and inbox["sam"][0].startswith(f"☑️ Alert #{alert_id} (Alex) resolved.")
    alert = await load_alert(drive.app, alert_id)
    assert (alert.status, alert.note) == (
        AlertStatus.RESOLVED,
        "talked by phone, he is safe; meeting tomorrow",
    )
    await drive.say("riley", f"DONE {alert_id}")
    assert drive.inbox() == {"riley": [f"Alert #{alert_id} (Alex) was already resolved by Sam."]}
    await drive.say("sam", "DONE")
    assert "Use: DONE <alert number>" in drive.inbox()["sam"][0]


async def test_buttons_acknowledge_and_resolve(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    (page,) = drive.console.take("sam")
    ack, done = page.buttons[0]
    await drive.say("sam", ack.label, ack.payload)
    (reply,) = drive.console.take("sam")
    assert [b.payload for row in reply.buttons for b in row] == [f"alert:done:{alert_id}"]
    await drive.say("sam", done.label, done.payload)
    assert (await load_alert(drive.app, alert_id)).status == AlertStatus.RESOLVED


async def test_plain_ack_takes_the_newest_open_alert(drive: Driver) -> None:
    first = await raise_alert(drive.app, Severity.HIGH)
    second = await raise_alert(drive.app, Severity.HIGH, by="Jordan")  # a worry of its own: its own alert
    drive.inbox()
    await drive.say("sam", "ACK")
    assert f"alert #{second}" in drive.inbox()["sam"][0]
    await drive.say("sam", "/ack")
    assert f"alert #{first}" in drive.inbox()["sam"][0]
    await drive.say("sam", "ACK")
    assert drive.inbox() == {"sam": ["No open alerts on your caseload."]}


async def test_the_team_is_told_who_acknowledged(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.CRITICAL)
    await drive.at(10)  # Sam, Riley and Dana have all been paged
    drive.inbox()
    await drive.say("dana", f"ACK {alert_id}")
    inbox = drive.inbox()
    assert inbox["sam"] == [f"✅ Dana acknowledged alert #{alert_id} (Alex)."]
    assert inbox["riley"] == [f"✅ Dana acknowledged alert #{alert_id} (Alex)."]
    assert "You acknowledged" in inbox["dana"][0]


# -- seeing PIRs --------------------------------------------------------------------------------------


async def test_caseload_at_a_glance(drive: Driver) -> None:
    await _checkin(drive, ["2", "7", "no", "no", "skip"])
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    drive.inbox()
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
    await drive.say("sam", "CASELOAD")
    (text,) = drive.inbox()["sam"]
    assert text.startswith("Your caseload (1, 1 needing attention first)")
    assert f"• Alex: Mon 2 Mar · streak 1 · mood 2 · craving 7 · alerts: #{alert_id} HIGH" in text
    await drive.say("dana", "/caseload")
    assert "(you supervise)" in drive.inbox()["dana"][0]
    await drive.say("riley", "caseload")
    assert "(you are backup)" in drive.inbox()["riley"][0]
    await drive.say("pat", "CASELOAD")
    assert drive.inbox() == {"pat": ["Your caseload is empty."]}
    async with drive.app.db.transaction() as s:
        sam = await resolve(s, "Sam")
    events = [e for e in await drive.audits("peer.caseload") if e.actor == f"person:{sam.id}"]
    assert [e.detail["pirs"] for e in events] == [[alex.id]]


async def test_history_of_one_pir(drive: Driver) -> None:
    await _checkin(drive, ["4", "3", "no", "no", "skip"])
    drive.clock.advance(timedelta(days=1))
    await _checkin(drive, ["2", "9", "no", "no", "I had a rough night"])
    await drive.say("sam", "NOTE Alex 25 phone talked about the rough night, plan for the weekend")
    drive.inbox()
    await drive.say("sam", "HISTORY alex")
    (text,) = drive.inbox()["sam"]
    assert "check-in streak 2" in text
    assert (
        "Tue 3 Mar: mood 2, craving 9, used since last check-in: no, "
        "thoughts of suicide or wishing to be dead: no, note for the peer: 'I had a rough night'"
    ) in text
    assert "Mon 2 Mar: mood 4, craving 3" in text
    # The craving of 9 raised an alert, said once: the trend's own "craving 9 of 10" would repeat it.
    assert "#1 Tue 3 Mar HIGH craving: open" in text
    assert "#2" not in text
    assert "← I had a rough night" in text
    assert "2026-03-03 25 min phone: talked about the rough night" in text
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
    assert [e.person_id for e in await drive.audits("peer.history")] == [alex.id]


async def test_chat_commands_find_names_like_the_cli(drive: Driver) -> None:
    """The resolver of `peerline` (bot.people.names): full name, first name, a unique start, any case."""
    async with drive.app.db.transaction() as s:
        now = drive.clock.now()
        alexis = await add_person(s, now, role=Role.PIR, name="Alexis Moore", console="alexis")
        await assign(s, now, pir="Alexis Moore", peer="Sam")
        alex = await resolve(s, "Alex")
    drive.inbox()
    await drive.say("sam", "HISTORY al")
    assert drive.inbox()["sam"] == ["al could be Alex, Alexis Moore. Use the full name."]  # names, not ids
    for typed, who in [("alexis", alexis), ("ALEXIS MOORE", alexis), ("alexi", alexis), ("alex", alex)]:
        await drive.say("sam", f"HISTORY {typed}")
        (text,) = drive.inbox()["sam"]
        assert text.startswith(f"{who.name}, check-in streak"), (typed, text)
    await drive.say("sam", "REPLY alexi see you at five")
    assert drive.console.take("alexis")[-1].text == "Your peer Sam: see you at five"


# -- acting for a PIR ---------------------------------------------------------------------------------


async def test_reply_reaches_the_pir_attributed_to_the_peer_and_never_shows_the_peer_address(
    drive: Driver,
) -> None:
    async with drive.app.db.transaction() as s:
        sam = await resolve(s, "Sam")
        s.add(
            ChannelIdentity(
                person_id=sam.id or 0, channel="sms", address="+14155550100", created_at=drive.clock.now()
            )
        )
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    drive.inbox()
    for command in (
        "REPLY Alex call me when you can",
        f"REPLY {alert_id} I'm here",
        "@alex on my way",
        f"#{alert_id} five minutes",
        "/reply Alex ok",
    ):
        await drive.say("sam", command)
    inbox = drive.inbox()
    assert inbox["alex"] == [
        "Your peer Sam: call me when you can",
        "Your peer Sam: I'm here",
        "Your peer Sam: on my way",
        "Your peer Sam: five minutes",
        "Your peer Sam: ok",
    ]
    assert inbox["sam"] == ["Sent to Alex."] * 5
    async with drive.app.db.transaction() as s:
        rows = (await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "peer.reply"))).all()
    assert len(rows) == 5
    assert all("+14155550100" not in t for t in inbox["alex"])  # Sam's own number never shows
    # The PIR's answer comes back to the peer, with how to reply
    await drive.say("alex", "thanks, I'm home now")
    assert drive.inbox()["sam"][0].startswith("Alex (PIR) wrote: thanks, I'm home now\nTo answer: @Alex")


async def test_reply_goes_to_the_channel_the_pir_last_wrote_from(drive: Driver) -> None:
    await drive.app.pipeline.handle(
        Inbound(channel="sms", address=ALEX_PHONE, text="can you call me", received_at=drive.clock.now())
    )
    await drive.say("sam", "@Alex calling in 5")
    async with drive.app.db.transaction() as s:
        rows = (await s.scalars(select(Outbox).where(col(Outbox.address) == ALEX_PHONE))).all()
    assert [r.body for r in rows][-1] == "Your peer Sam: calling in 5"  # after "passed that to your peer"


async def test_reply_to_family_and_to_someone_who_opted_out(drive: Driver) -> None:
    await drive.say("sam", "@Jordan thank you for letting me know")
    assert drive.inbox()["jordan"] == ["Sam, peer specialist: thank you for letting me know"]
    async with drive.app.db.transaction() as s:  # opted out on every channel
        for identity in (await s.scalars(select(ChannelIdentity))).all():
            identity.opted_out_at = drive.clock.now() if identity.address in ("alex", ALEX_PHONE) else None
    await drive.say("sam", "REPLY Alex are you ok?")
    assert drive.inbox() == {
        "sam": ["Alex can't get messages right now (opted out or unreachable). Try calling."]
    }
    await drive.say("sam", "REPLY Alex")
    assert "Use: REPLY" in drive.inbox()["sam"][0]


@pytest.mark.parametrize(
    ("command", "minutes", "units", "method"),
    [
        ("NOTE Alex 20 phone talked through cravings, plan for tonight", 20, 1, "phone"),
        ("/note alex 7min text quick check", 7, 0, "text"),
        ("NOTE @ALEX 38 in-person walked to the meeting together", 38, 3, "in_person"),
    ],
)
async def test_contact_note_is_a_billing_record(
    drive: Driver, command: str, minutes: int, units: int, method: str
) -> None:
    await drive.say("sam", command)
    (reply,) = drive.inbox()["sam"]
    assert reply.startswith(f"Noted: {minutes} min") and f"H0038, {units} unit(s)" in reply
    async with drive.app.db.transaction() as s:
        note = (await s.scalars(select(ContactNote))).one()
        alex = await resolve(s, "Alex")
        sam = await resolve(s, "Sam")
    assert (note.pir_id, note.peer_id, note.minutes, note.units, note.method) == (
        alex.id,
        sam.id,
        minutes,
        units,
        method,
    )
    assert (note.service_date, note.service_code) == ("2026-03-02", "H0038")
    assert note.ended_at - note.started_at == timedelta(minutes=minutes)
    assert [e.detail["note_id"] for e in await drive.audits("contact.noted")] == [note.id]


async def test_a_contact_under_8_minutes_is_recorded_with_no_unit_and_says_why(drive: Driver) -> None:
    await drive.say("sam", "NOTE Alex 5 phone quick call, he is fine")
    (reply,) = drive.inbox()["sam"]
    assert reply == (
        "Noted: 5 min phone with Alex on 2026-03-02 (H0038, 0 unit(s): a 15-minute unit counts from"
        " 8 minutes on, so this contact is on record but not billable)."
    )
    async with drive.app.db.transaction() as s:
        note = (await s.scalars(select(ContactNote))).one()
    assert (note.minutes, note.units) == (5, 0)


@pytest.mark.parametrize("minutes", ["0", "481", "600", "1000"])
async def test_minutes_out_of_range_are_refused_with_the_limit(drive: Driver, minutes: str) -> None:
    await drive.say("sam", f"NOTE Alex {minutes} phone a long day together")
    assert drive.inbox()["sam"] == [
        "A contact note takes 1 to 480 minutes (8 hours). For a longer contact, write one note per session."
    ]
    async with drive.app.db.transaction() as s:
        assert (await s.scalars(select(ContactNote))).all() == []


@pytest.mark.parametrize("command", ["NOTE Alex phone 20 hi", "NOTE Alex 20 fax hi", "NOTE Alex 20 phone"])
async def test_a_bad_note_says_how(drive: Driver, command: str) -> None:
    await drive.say("sam", command)
    assert drive.inbox()["sam"][0].startswith("Use: NOTE")
    async with drive.app.db.transaction() as s:
        assert (await s.scalars(select(ContactNote))).all() == []


async def test_pause_and_resume_check_ins(drive: Driver) -> None:
    await drive.say("sam", "PAUSE Alex")
    assert drive.inbox() == {"sam": ["Daily check-ins for Alex are paused. RESUME Alex to restart them."]}
    await drive.at(24 * 60)  # tomorrow 09:00: no check-in for Alex
    assert "alex" not in drive.inbox()
    assert await _sessions(drive) == 0
    await drive.say("sam", "CASELOAD")
    assert "[check-ins paused]" in drive.inbox()["sam"][0]
    await drive.say("sam", "RESUME Alex")
    assert drive.inbox() == {"sam": ["Daily check-ins for Alex are back on; next one Wed 4 Mar 9:00 AM EST."]}
    await drive.at(48 * 60)
    assert "alex" in drive.inbox()
    assert await _sessions(drive) == 1
    assert [e.action for e in await drive.audits("checkins.paused")] == ["checkins.paused"]


async def _sessions(drive: Driver) -> int:
    """Alex's check-ins (Jordan, the family member, has a daily check-in of their own)."""
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        return len((await s.scalars(select(FlowSession).where(FlowSession.person_id == alex.id))).all())


async def test_digest_lists_open_medium_alerts(drive: Driver) -> None:
    await drive.say("sam", "DIGEST")
    assert drive.inbox() == {"sam": ["No digest alerts open on your caseload."]}
    first = await raise_alert(drive.app, Severity.MEDIUM)
    await raise_alert(drive.app, Severity.HIGH)
    drive.inbox()
    await drive.say("sam", f"ACK {first}")
    await drive.say("sam", "/digest")
    text = drive.inbox()["sam"][-1]
    assert text.startswith("📋 Digest: 1 alert(s)")
    assert f"MEDIUM alert #{first}: Alex" in text and "(acknowledged by Sam)" in text
    assert "HIGH" not in text


async def test_help_and_unknown_commands(drive: Driver) -> None:
    await drive.say("sam", "HELP")
    assert "CASELOAD [page] – your PIRs at a glance" in drive.inbox()["sam"][0]
    await drive.say("sam", "/commands")
    assert "NOTE <name> <minutes>" in drive.inbox()["sam"][0]
    await drive.say("sam", "hello")
    assert drive.inbox()["sam"][0].startswith("I did not understand that. Commands: ACK")


# -- authorisation ------------------------------------------------------------------------------------

EVERY_COMMAND = [
    ("CASELOAD", None),
    ("/caseload", None),
    ("HISTORY Alex", None),
    ("/history Alex", None),
    ("REPLY Alex hello", None),
    ("REPLY {alert} hello", None),
    ("ACK", None),
    ("ACK {alert}", None),
    ("/ack {alert}", None),
    ("DONE {alert} all good", None),
    ("NOTE Alex 20 phone talked", None),
    ("PAUSE Alex", None),
    ("RESUME Alex", None),
    ("DIGEST", None),
    ("✅ Acknowledge", "alert:ack:{alert}"),
    ("☑️ Resolve", "alert:done:{alert}"),
]
STAFF_ONLY_FORMS = [("@Alex hello", None), ("#{alert} hello", None), ("history alex", None)]


@pytest.mark.parametrize("sender", ["pat", "alex", "stranger"])
async def test_outsiders_try_every_peer_command_and_see_nothing(drive: Driver, sender: str) -> None:
    await _checkin(drive, ["2", "7", "no", "no", "skip"])
    alert_id = await raise_alert(drive.app, Severity.MEDIUM)
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
    drive.inbox()
    commands = EVERY_COMMAND + (STAFF_ONLY_FORMS if sender == "pat" else [])
    for number, (text, payload) in enumerate(commands):
        await drive.say(
            sender,
            text.format(alert=alert_id),
            payload.format(alert=alert_id) if payload else None,
            address=sender,
        )
        inbox = drive.inbox()
        if sender == "stranger" and number > 0:
            assert inbox == {}, (text, inbox)  # an unknown address is told who we are once a day
            continue
        assert list(inbox) == [sender], (text, inbox)
        replies = inbox[sender]
        assert len(replies) == 1, (text, replies)
        for secret in (REASON, ALEX_PHONE, "streak", "mood", "craving", f"@{alex.id}", "Your caseload ("):
            assert secret not in replies[0], (text, replies[0])
    alert = await load_alert(drive.app, alert_id)
    assert (alert.status, alert.acknowledged_by, alert.note) == (AlertStatus.OPEN, None, None)
    async with drive.app.db.transaction() as s:
        assert (await s.scalars(select(ContactNote))).all() == []
        schedule = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
        ).one()
        assert not schedule.paused
        refused = (
            await s.scalars(
                select(AuditEvent).where(
                    col(AuditEvent.action).in_(["peer_command.refused"])
                    | col(AuditEvent.action).like("peer.%")
                )
            )
        ).all()
    assert len(refused) >= len(EVERY_COMMAND)  # every attempt is on the audit trail
    if sender == "pat":
        assert all(e.actor != "unknown" for e in refused)
        assert all(e.detail.get("found", False) is False for e in refused if "found" in e.detail)
        # Each attempt that named Alex (by name or by one of Alex's alerts) is on Alex's own trail.
        naming = [t for t, p in commands if "alex" in t.casefold() or "{alert}" in t or p]
        about_alex = [e for e in refused if e.person_id == alex.id]
        assert len(about_alex) == len(naming), ([e.action for e in about_alex], naming)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("ACK ²", "No alert #² on your caseload."),
        ("ACK 99999999999999999999", "No alert #99999999999999999999 on your caseload."),
        ("DONE ¹² x", "Use: DONE <alert number>"),
        ("DONE 99999999999999999999 ok", "Use: DONE <alert number>"),
        ("#² hi", "No one by that name on your caseload."),
        ("MORE ١٢", "Use: MORE"),
    ],
)
async def test_numbers_no_database_can_hold_are_answered_not_lost(
    drive: Driver, text: str, answer: str
) -> None:
    await drive.say("sam", text)
    (reply,) = drive.inbox()["sam"]
    assert answer in reply
    async with drive.app.db.transaction() as s:
        stored = (await s.scalars(select(Message).where(col(Message.body) == text))).all()
    assert len(stored) == 1 and stored[0].error_code is None  # handled, not merely kept


async def test_a_strangers_attempts_are_audited_with_the_address_and_the_person_named(drive: Driver) -> None:
    alert_id = await raise_alert(drive.app, Severity.HIGH)
    drive.inbox()
    for text in ("@Alex hi", f"#{alert_id} hi", f"ACK {alert_id}", "just saying hello"):
        await drive.say("stranger", text)
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        events = (
            await s.scalars(
                select(AuditEvent).where(col(AuditEvent.actor) == "unknown").order_by(col(AuditEvent.id))
            )
        ).all()
    got = [(e.action, e.person_id, e.detail["address"]) for e in events if "address" in e.detail]
    assert got == [
        ("peer_command.refused", alex.id, "stranger"),
        ("peer_command.refused", alex.id, "stranger"),
        ("peer_command.refused", alex.id, "stranger"),
        ("stranger.message", None, "stranger"),
    ]
    assert all(e.detail.get("message_id") for e in events if "address" in e.detail)
