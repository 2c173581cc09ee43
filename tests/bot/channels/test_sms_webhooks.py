"""SMS end to end: Twilio webhooks signed by twilio's own `RequestValidator`, replies through the outbox to a
local Twilio REST server over real HTTP, on SQLite and PostgreSQL.

Program: peer Sam and PIR Alex, both on SMS; family member Jordan on SMS, linked to Alex.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select

from bot.checkins.sessions import start_checkin
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.people.enrolment import add_person, assign, link_family, resolve
from bot.server import make_web_app
from storage.models import (
    Alert,
    Answer,
    AuditEvent,
    ChannelIdentity,
    Direction,
    FlowSession,
    Message,
    MessageStatus,
    Role,
    ShareScope,
)
from tests.fakes.sms_world import PUBLIC_URL, SmsWorld, sms_world
from tests.fakes.twilio import Created, sign

ALEX = "+12025550143"
SAM = "+12025550101"
JORDAN = "+12025550188"
STRANGER = "+13105550100"


@pytest.fixture
async def world(db_url: str, clock: ManualClock) -> AsyncIterator[SmsWorld]:
    async with sms_world(db_url, clock, program_name="Peerline", support_contact="Sam, 202-555-0101") as w:
        now = clock.now()
        async with w.app.db.transaction() as s:
            await add_person(s, now, role=Role.PEER, name="Sam", phone=SAM)
            await add_person(s, now, role=Role.PIR, name="Alex", phone="(202) 555-0143")
            await add_person(s, now, role=Role.FAMILY, name="Jordan", phone=JORDAN)
            await assign(s, now, pir="Alex", peer="Sam")
            await link_family(s, now, family="Jordan", pir="Alex", share=ShareScope.STATUS)
        yield w
        assert w.twilio.violations == [], "requests the Twilio API description does not allow"


async def _start(
    world: SmsWorld, who: str = "Alex", flow: str = "daily_checkin", *, deliver: bool = True
) -> None:
    app = world.app
    async with app.db.transaction() as s:
        person = await resolve(s, who)
        await start_checkin(s, app.content, person, flow, app.clock.now(), app.buttons)
    if deliver:
        await world.deliver()


def _expect(world: SmsWorld, wanted: dict[str, list[str]]) -> None:
    """Exactly these texts (each containing its substring, in order) reached each number since last time."""
    for number in (ALEX, SAM, JORDAN, STRANGER):
        got = world.twilio.take(number)
        parts = wanted.get(number, [])
        assert len(got) == len(parts), f"{number} got {got!r}, expected {parts!r}"
        for text, part in zip(got, parts, strict=True):
            assert part.lower() in text.lower(), f"{number} got {text!r}, expected {part!r} in it"


async def _identity(world: SmsWorld, number: str) -> ChannelIdentity:
    async with world.app.db.transaction() as s:
        return (await s.scalars(select(ChannelIdentity).where(ChannelIdentity.address == number))).one()


async def _outbound(world: SmsWorld, number: str) -> list[Message]:
    async with world.app.db.transaction() as s:
        rows = await s.scalars(
            select(Message)
            .where(Message.address == number, Message.direction == Direction.OUTBOUND)
            .order_by(col(Message.id))
        )
        return list(rows.all())


# -- signatures -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
async def test_unsigned_and_wrongly_signed_webhooks_are_refused(world: SmsWorld, path: str) -> None:
    url = PUBLIC_URL + path
    params = world.inbound_params(ALEX, "I want to kill myself")
    params["MessageStatus"] = "delivered"
    refused = [
        await world.post(url, params, signature=None),  # no header
        await world.post(url, params, signature=""),
        await world.post(url, params, token="not-the-auth-token"),
        await world.post(url, params, signature="c2lnbmF0dXJl"),
    ]
    # signed for the address the proxy forwarded to, not the public one Twilio called
    local = str(world.client.make_url(path))
    refused.append(await world.post(url, params, signature=sign(local, params)))
    # a body changed after signing
    signature = sign(url, params)
    refused.append(await world.post(url, {**params, "Body": "hello"}, signature=signature))
    assert [r.status for r in refused] == [403] * 6
    async with world.app.db.transaction() as s:
        assert (await s.scalars(select(Message))).all() == []
        assert (await s.scalars(select(Alert))).all() == []
    _expect(world, {})


async def test_a_signed_inbound_text_is_answered_with_empty_twiml_and_replied_to_over_rest(
    world: SmsWorld,
) -> None:
    response = await world.text(ALEX, "can we talk tomorrow?")
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert await response.text() == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    _expect(world, {ALEX: ["passed that to your peer Sam"], SAM: ["Alex (PIR) wrote: can we talk tomorrow?"]})
    async with world.app.db.transaction() as s:
        inbound = (await s.scalars(select(Message).where(Message.direction == Direction.INBOUND))).one()
    assert (inbound.channel, inbound.address, inbound.body) == ("sms", ALEX, "can we talk tomorrow?")
    assert inbound.provider_id is not None and inbound.provider_id.startswith("sms:SM")


async def test_a_webhook_without_its_fields_is_a_bad_request(world: SmsWorld) -> None:
    params = world.inbound_params(ALEX, "hi")
    del params["From"]
    response = await world.post(f"{PUBLIC_URL}/sms/inbound", params)
    assert response.status == 400
    assert "From" in await response.text()
    response = await world.post(f"{PUBLIC_URL}/sms/status", {"MessageSid": "SM" + "0" * 32})
    assert response.status == 400


async def test_without_an_auth_token_nothing_is_accepted(db_url: str, clock: ManualClock) -> None:
    async with sms_world(db_url, clock) as world:
        world.app.settings.twilio_auth_token = None
        client = TestClient(TestServer(make_web_app(world.app)))
        await client.start_server()
        try:
            params = world.inbound_params(ALEX, "hi")
            response = await client.post("/sms/inbound", data=params, headers={"X-Twilio-Signature": "x"})
            assert response.status == 403
        finally:
            await client.close()


async def test_a_duplicate_message_sid_is_handled_once(world: SmsWorld) -> None:
    await world.text(ALEX, "can we talk tomorrow?", sid="SM" + "ab" * 16)
    again = await world.text(ALEX, "can we talk tomorrow?", sid="SM" + "ab" * 16)  # Twilio retried
    assert again.status == 200
    _expect(world, {ALEX: ["passed that to your peer"], SAM: ["Alex (PIR) wrote"]})
    async with world.app.db.transaction() as s:
        inbound = (await s.scalars(select(Message).where(Message.direction == Direction.INBOUND))).all()
    assert len(inbound) == 1


# -- conversations over SMS -------------------------------------------------------------------------------


async def test_a_full_daily_check_in_over_sms(world: SmsWorld) -> None:
    await _start(world)
    _expect(world, {ALEX: ["check-in time", "mood today"]})
    assert "Reply 1-5" in world.twilio.bodies_to(ALEX)[-1]  # numbered, no buttons on SMS
    for answer, next_question in [
        ("4", "cravings"),
        ("#2", "used alcohol or drugs"),
        ("nope", "thoughts of killing yourself"),
        ("no", "anything you'd like your peer to know"),
        ("skip", "thank you for checking in"),
    ]:
        await world.text(ALEX, answer)
        _expect(world, {ALEX: [next_question]})
    async with world.app.db.transaction() as s:
        answers = {a.step_id: a.value for a in (await s.scalars(select(Answer))).all()}
        session = (await s.scalars(select(FlowSession))).one()
    assert answers == {"mood": 4, "craving": 2, "used": False, "safety": False, "anything_else": None}
    assert session.status == "completed"
    sent = await _outbound(world, ALEX)
    assert len(sent) == 7
    assert {m.status for m in sent} == {MessageStatus.SENT}
    assert all(m.provider_id and m.provider_id.startswith("sms:SM") for m in sent)
    for request in world.twilio.messages():
        assert request.one("From") == "+15017122661"
        assert (request.one("StatusCallback") or "").startswith(f"{PUBLIC_URL}/sms/status?m=")


@pytest.mark.parametrize("answer", ["2", "#2", "two", "okay"])
async def test_numbered_choices_accept_a_number_in_any_form(world: SmsWorld, answer: str) -> None:
    await _start(world, "Jordan", "family_checkin")
    question = world.twilio.take(JORDAN)[-1]
    assert "1) Good\n2) Okay\n3) Struggling" in question
    await world.text(JORDAN, answer)
    async with world.app.db.transaction() as s:
        answers = {a.step_id: a.value for a in (await s.scalars(select(Answer))).all()}
    assert answers == {"holding_up": "okay"}


async def test_stop_mid_flow_opts_out_with_one_confirmation_then_silence(
    world: SmsWorld, clock: ManualClock
) -> None:
    await _start(world)
    _expect(world, {ALEX: ["check-in time", "mood today"]})
    await world.text(ALEX, "STOP")
    _expect(world, {ALEX: ["unsubscribed and won't get more messages. Reply START"], SAM: ["Alex opted out"]})
    assert (await _identity(world, ALEX)).opted_out_at == clock.now()
    await world.text(ALEX, "stop")  # a second STOP gets no second confirmation
    clock.advance(timedelta(hours=3))  # no reminder for the open check-in
    await tick(world.app)
    await world.deliver()
    await _start(world)  # nor a new check-in
    await world.text(ALEX, "4")  # an answer is not taken as one; it reaches the peer
    _expect(world, {SAM: ["Alex (PIR) wrote: 4"]})
    async with world.app.db.transaction() as s:
        assert (await s.scalars(select(Answer))).all() == []


async def test_a_check_in_still_queued_when_stop_arrives_is_withheld(world: SmsWorld) -> None:
    await _start(world, deliver=False)  # the sender is behind (rate limits) when Alex says STOP
    await world.text(ALEX, "STOP")
    _expect(world, {ALEX: ["unsubscribed"], SAM: ["opted out"]})
    statuses = [(m.kind, m.status, m.error_code) for m in await _outbound(world, ALEX)]
    assert statuses == [
        ("checkin", MessageStatus.FAILED, "opted_out"),
        ("checkin", MessageStatus.FAILED, "opted_out"),
        ("keyword", MessageStatus.SENT, None),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "STOPALL",
        "Unsubscribe",
        "cancel",
        "END",
        "quit",
        "revoke",
        "OPTOUT",
        "stop texting me",
        "unsubscribe me",
    ],
)
async def test_every_opt_out_keyword_and_plain_words_opt_out(world: SmsWorld, text: str) -> None:
    await world.text(ALEX, text)
    _expect(world, {ALEX: ["unsubscribed"], SAM: ["opted out"]})
    assert (await _identity(world, ALEX)).opted_out_at is not None


async def test_start_unstop_and_yes_resubscribe_and_check_ins_resume(world: SmsWorld) -> None:
    for word in ("START", "UNSTOP", "yes"):
        await world.text(ALEX, "STOP")
        _expect(world, {ALEX: ["unsubscribed"], SAM: ["opted out"]})
        await world.text(ALEX, word)
        _expect(world, {ALEX: ["Msg & data rates may apply. Reply HELP for help, STOP to opt out"]})
        assert (await _identity(world, ALEX)).opted_out_at is None
    await _start(world)
    _expect(world, {ALEX: ["check-in time", "mood today"]})


async def test_yes_is_an_answer_while_subscribed(world: SmsWorld) -> None:
    await _start(world)
    await world.text(ALEX, "3")
    await world.text(ALEX, "0")
    world.twilio.take(ALEX)
    world.twilio.take(SAM)
    await world.text(ALEX, "YES")  # "used since last check-in?": yes, not a re-subscription
    async with world.app.db.transaction() as s:
        answers = {a.step_id: a.value for a in (await s.scalars(select(Answer))).all()}
    assert answers["used"] is True


@pytest.mark.parametrize("word", ["HELP", "info"])
async def test_help_names_the_program_the_support_contact_and_stop(world: SmsWorld, word: str) -> None:
    await _start(world)
    world.twilio.take(ALEX)
    await world.text(ALEX, word)
    (reply,) = world.twilio.take(ALEX)
    assert "Peerline" in reply and "Sam, 202-555-0101" in reply and "Reply STOP" in reply
    await world.text(ALEX, "3")  # the flow is still where it was
    _expect(world, {ALEX: ["cravings"]})


async def test_a_crisis_inside_a_stop_is_handled_as_a_crisis_then_the_opt_out(world: SmsWorld) -> None:
    await world.text(ALEX, "stop texting me, I want to kill myself")
    _expect(
        world,
        {ALEX: ["988", "unsubscribed"], SAM: ["alert", "Alex opted out"]},
    )
    async with world.app.db.transaction() as s:
        alert = (await s.scalars(select(Alert))).one()
    assert alert.severity == "critical"
    assert (await _identity(world, ALEX)).opted_out_at is not None
    await _start(world)
    _expect(world, {})


async def test_a_peer_on_sms_acknowledges_and_resolves_an_alert_by_text(world: SmsWorld) -> None:
    await world.text(ALEX, "I relapsed last night and I want to kill myself")
    async with world.app.db.transaction() as s:
        alert = (await s.scalars(select(Alert))).one()
    page = world.twilio.take(SAM)
    assert any(f"ACK {alert.id}" in text for text in page), page
    await world.text(SAM, f"ACK {alert.id}")
    await world.text(SAM, f"DONE {alert.id} called her, she is safe")
    async with world.app.db.transaction() as s:
        done = await s.get(Alert, alert.id)
    assert done is not None and done.status == "resolved"
    assert done.acknowledged_by is not None and done.resolved_by == done.acknowledged_by


async def test_twilio_21610_marks_the_number_opted_out_and_is_never_retried(
    world: SmsWorld, clock: ManualClock
) -> None:
    world.twilio.fail_next(21610)
    await _start(world)  # the intro is refused: Alex opted out with the carrier
    sent = world.twilio.messages()
    assert [(r.one("To"), r.answered) for r in sent] == [(ALEX, 400), (SAM, 201)]
    assert "Alex opted out of messages on sms" in (sent[1].one("Body") or "")  # the peer is told
    clock.advance(timedelta(hours=1))
    await world.deliver()
    assert len(world.twilio.messages()) == 2
    assert (await _identity(world, ALEX)).opted_out_at is not None
    refused, withheld = await _outbound(world, ALEX)  # the intro, and the question queued with it
    assert (refused.status, refused.error_code) == (MessageStatus.FAILED, "21610")
    assert (withheld.status, withheld.error_code) == (MessageStatus.FAILED, "opted_out")
    await _start(world)
    assert len(world.twilio.messages()) == 2


async def test_a_relay_over_twilios_1600_characters_arrives_whole_in_pieces(world: SmsWorld) -> None:
    words = "so much happened this week and I want you to know all of it. " * 26  # ~1,610 characters
    await world.text(ALEX, words[:1590])  # Twilio delivers up to 1,600; the name in front adds more
    relayed = world.twilio.take(SAM)
    assert len(relayed) == 2 and all(len(piece) <= 1600 for piece in relayed)
    assert relayed[0].startswith("Alex (PIR) wrote: so much happened")
    assert " ".join(words[:1590].split()) in " ".join(" ".join(relayed).split())
    async with world.app.db.transaction() as s:
        failed = (await s.scalars(select(Message).where(col(Message.status) == "failed"))).all()
    assert failed == []


async def test_an_unknown_number_is_not_enrolled_by_texting(world: SmsWorld) -> None:
    await world.text(STRANGER, "hello?")
    _expect(world, {STRANGER: ["We don't have this number on file"]})


# -- delivery receipts ------------------------------------------------------------------------------------


async def test_status_callbacks_only_move_forward(world: SmsWorld) -> None:
    await world.text(ALEX, "can we talk tomorrow?")
    (sid,) = world.twilio.sids_to(ALEX)
    for status in ("delivered", "sent", "queued", "sending"):  # late ones after the final one
        assert (await world.receipt(sid, status)).status == 204
    (reply,) = await _outbound(world, ALEX)
    assert reply.status == MessageStatus.DELIVERED


async def test_failed_and_undelivered_receipts_store_the_error_code(world: SmsWorld) -> None:
    await _start(world)
    intro, question = world.twilio.sids_to(ALEX)
    await world.receipt(intro, "sent")
    await world.receipt(intro, "undelivered", 30003)
    await world.receipt(question, "failed", 30007)
    first, second = await _outbound(world, ALEX)
    assert (first.status, first.error_code) == (MessageStatus.UNDELIVERED, "30003")
    assert (second.status, second.error_code) == (MessageStatus.FAILED, "30007")
    ident = await _identity(world, ALEX)
    assert ident.opted_out_at is None and ident.unreachable_at is None  # a phone switched off is not gone


async def test_a_21610_receipt_marks_the_number_opted_out(world: SmsWorld) -> None:
    await _start(world)
    sid = world.twilio.sids_to(ALEX)[0]
    await world.receipt(sid, "failed", 21610)
    assert (await _identity(world, ALEX)).opted_out_at is not None
    async with world.app.db.transaction() as s:
        events = (await s.scalars(select(AuditEvent).where(AuditEvent.action == "consent.opted_out"))).all()
    assert len(events) == 1


async def test_a_receipt_that_beats_our_commit_of_the_sid_is_kept(world: SmsWorld) -> None:
    async def delivered_at_once(created: Created) -> None:
        # Twilio reports delivery before its 201 reaches us, so before our sender records the sid.
        url, params = world.twilio.receipt(created.sid, "delivered")
        assert (await world.post(url, params)).status == 204

    world.twilio.before_answer = delivered_at_once
    await world.text(ALEX, "can we talk tomorrow?")
    (reply,) = await _outbound(world, ALEX)
    (sid,) = world.twilio.sids_to(ALEX)
    assert (reply.status, reply.provider_id) == (MessageStatus.DELIVERED, f"sms:{sid}")


async def test_a_receipt_for_a_message_we_do_not_know_is_ignored(world: SmsWorld) -> None:
    response = await world.post(
        f"{PUBLIC_URL}/sms/status",
        {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32},
    )
    assert response.status == 204


# -- hostile input (issue 13) -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/x-www-form-urlencoded; charset=bogus", b"Body=hi", "unsupported charset"),
        ("application/x-www-form-urlencoded", b"Body=\xff\xfe&From=%2B1", "unreadable form"),
        ("application/x-www-form-urlencoded", b"Body=%ff%fe&From=%2B1", "unreadable form"),
        ("multipart/form-data", b"--x\r\n", "expected application/x-www-form-urlencoded"),
        ("application/json", b'{"Body": "hi"}', "expected application/x-www-form-urlencoded"),
        ("", b"Body=hi", "expected application/x-www-form-urlencoded"),
    ],
)
async def test_a_body_twilio_would_never_send_is_a_400_with_the_reason(
    world: SmsWorld, path: str, content_type: str, body: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-Twilio-Signature": "c2lnbmF0dXJl"}
    if content_type:
        headers["Content-Type"] = content_type
    response = await world.client.post(path, data=body, headers=headers)
    assert response.status == 400
    assert reason in await response.text()
    assert any(reason in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records)
    async with world.app.db.transaction() as s:
        assert (await s.scalars(select(Message))).all() == []


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
@pytest.mark.parametrize(
    ("framing", "hang_up"),
    [
        (b"Content-Encoding: gzip\r\nContent-Length: 7\r\n\r\nBody=hi", False),  # not gzip at all
        (b"Content-Length: 100\r\n\r\nBody=hi", True),  # 93 bytes short
    ],
)
async def test_a_body_that_cannot_be_read_is_a_400_not_a_traceback(
    world: SmsWorld, path: str, framing: bytes, hang_up: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by tests/bot/test_webhook_fuzz.py: reading the body raised, a 500 with a traceback. Served as
    # `peerline serve` serves it (the test client's server would cancel the handler on a hang-up).
    runner = web.AppRunner(make_web_app(world.app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n".encode()
            + b"X-Twilio-Signature: c2lnbmF0dXJl\r\n"
            + framing
        )
        await writer.drain()
        if hang_up:
            await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
            writer.write_eof()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    finally:
        await runner.cleanup()  # waits for the handler
    assert status == (b"" if hang_up else b"HTTP/1.1 400 Bad Request\r\n"), status
    refused = f"refused {path} from 127.0.0.1: unreadable body"
    assert any(refused in r.getMessage() for r in caplog.records)
    # (aiohttp still reports the undecodable rest of the body itself: `bot.logs` makes that one line)
    assert not [r for r in caplog.records if r.getMessage().startswith("Error handling request")]


@pytest.mark.parametrize("host", ["x:99999", "a:b:c", "\x80"])
async def test_without_a_public_url_a_host_no_url_can_be_made_of_is_a_400(
    db_url: str, clock: ManualClock, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by tests/bot/test_webhook_fuzz.py: the URL to check the signature against was built from the
    # Host header, and a port that is no number (or bytes that are not text) raised: a 500.
    async with sms_world(db_url, clock, public_url=None) as world:
        params = world.inbound_params(ALEX, "hi")
        headers = {"X-Twilio-Signature": "c2lnbmF0dXJl", "Host": host}
        response = await world.client.post("/sms/inbound", data=params, headers=headers)
        assert response.status == 400
        assert "no URL has the Host header" in await response.text()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize("m", ["%C2%B2", "9223372036854775808", "99999999999999999999", "-1", "1e3"])
async def test_a_receipt_naming_no_message_of_ours_is_ignored_not_a_500(world: SmsWorld, m: str) -> None:
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    response = await world.post(f"{PUBLIC_URL}/sms/status?m={m}", params)
    assert response.status == 204


async def test_an_unreachable_receipt_tells_the_peer_and_a_text_from_the_person_clears_it(
    world: SmsWorld,
) -> None:
    await _start(world)
    _expect(world, {ALEX: ["check-in time", "mood today"]})
    sid = world.twilio.sids_to(ALEX)[0]
    await world.receipt(sid, "undelivered", 30005)
    await world.deliver()
    assert (await _identity(world, ALEX)).unreachable_at is not None
    _expect(world, {SAM: ["Alex can no longer be reached on sms"]})  # the receipt path tells the peer too
    await world.receipt(sid, "undelivered", 30005)  # a repeat marks nothing twice
    await world.deliver()
    _expect(world, {})
    await world.text(ALEX, "I'm here, sorry, phone was off")  # they wrote from it: it works again
    assert (await _identity(world, ALEX)).unreachable_at is None
    async with world.app.db.transaction() as s:
        actions = [
            e.action
            for e in (await s.scalars(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
            if e.action.startswith("identity.")
        ]
    assert actions == ["identity.unreachable", "identity.reachable_again"]


# -- lost contact: who hears (bot.people.lost_contact) -------------------------------------------------------

DANA = "+12025550177"


async def _with_supervisor(world: SmsWorld) -> None:
    now = world.app.clock.now()
    async with world.app.db.transaction() as s:
        await add_person(s, now, role=Role.SUPERVISOR, name="Dana", phone=DANA)
        await assign(s, now, pir="Alex", peer="Sam", supervisor="Dana")


@pytest.mark.parametrize(
    ("code", "told"),
    [
        (21610, "Sam (peer) opted out of messages on sms"),
        (30005, "Sam (peer) can no longer be reached on sms"),
    ],
)
async def test_a_receipt_that_loses_a_peer_tells_their_supervisor(
    world: SmsWorld, code: int, told: str
) -> None:
    """A peer who opted out with the carrier, or whose number is gone, can no longer be paged there."""
    await _with_supervisor(world)
    await world.text(ALEX, "can we talk tomorrow?")  # relayed to Sam
    (sid,) = world.twilio.sids_to(SAM)
    await world.receipt(sid, "failed", code)
    await world.deliver()
    dana = world.twilio.take(DANA)
    assert len(dana) == 1 and told in dana[0], dana
    ident = await _identity(world, SAM)
    assert (ident.opted_out_at is not None) == (code == 21610)
    assert (ident.unreachable_at is not None) == (code == 30005)
    async with world.app.db.transaction() as s:
        actions = [e.action for e in (await s.scalars(select(AuditEvent))).all()]
    assert ("supervisor.told_opt_out" if code == 21610 else "supervisor.told_unreachable") in actions


async def test_a_family_member_who_opts_out_is_made_known_to_the_pirs_peer(world: SmsWorld) -> None:
    await world.text(JORDAN, "STOP")
    _expect(world, {JORDAN: ["unsubscribed"], SAM: ["Jordan, who is enrolled as Alex's family, opted out"]})
    async with world.app.db.transaction() as s:
        jordan = await resolve(s, "Jordan")
        told = (
            await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "peer.told_opt_out"))
        ).all()
    assert [e.person_id for e in told] == [jordan.id]
