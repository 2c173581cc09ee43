"""The SMS adapter against a local Twilio REST server that checks every request against Twilio's OpenAPI
description, and the outbox's handling of what Twilio answers (opt-out, unreachable, rate limit, outage).
"""

from __future__ import annotations

import base64
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlmodel import select

from bot.app import App
from bot.channels.base import Failed, FailureKind, OutboundMessage, Sent
from bot.channels.ratelimit import RateLimiter
from bot.channels.sms.adapter import TWILIO_API, RebasedHttpClient, SmsChannel
from bot.clock import ManualClock
from bot.outbox.queue import queue_message
from bot.outbox.sender import OutboxSender, RetryPolicy
from bot.people.enrolment import add_person
from config.settings import Settings
from storage.models import ChannelIdentity, Message, MessageKind, MessageStatus, Outbox, Role
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, sms_channel

SERVICE_SID = "MG" + "fedcba9876543210" * 2
FROM = FROM_NUMBER
ALEX = "+12025550143"
CALLBACK = "https://peerline.example.org/sms/status"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()
    assert fake.violations == [], "requests the Twilio API description does not allow"


def _channel(twilio: FakeTwilio, **kwargs: object) -> SmsChannel:
    return sms_channel(twilio.url, **({"status_callback": CALLBACK} | kwargs))


@pytest.fixture
async def channel(twilio: FakeTwilio) -> AsyncIterator[SmsChannel]:
    sms = _channel(twilio)
    yield sms
    await sms.close()


def _out(text: str = "Hi Alex, it's check-in time.", message_id: int = 7) -> OutboundMessage:
    return OutboundMessage(message_id=message_id, channel="sms", address=ALEX, text=text)


async def test_a_send_is_one_create_message_request_with_our_status_callback(
    channel: SmsChannel, twilio: FakeTwilio
) -> None:
    result = await channel.send(_out())
    assert isinstance(result, Sent)
    (request,) = twilio.messages()
    sid = next(iter(twilio.created))
    assert result.provider_id == f"sms:{sid}"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.params == {
        "To": [ALEX],
        "From": [FROM],
        "Body": ["Hi Alex, it's check-in time."],
        "StatusCallback": [f"{CALLBACK}?m=7"],
    }
    assert request.answered == 201


async def test_a_messaging_service_sends_without_a_from_number(twilio: FakeTwilio) -> None:
    sms = _channel(twilio, from_number=None, messaging_service_sid=SERVICE_SID, status_callback=None)
    try:
        assert isinstance(await sms.send(_out()), Sent)
    finally:
        await sms.close()
    (request,) = twilio.messages()
    assert request.params == {"To": [ALEX], "MessagingServiceSid": [SERVICE_SID], "Body": [_out().text]}


async def test_the_body_is_fitted_to_gsm7_before_it_goes_out(channel: SmsChannel, twilio: FakeTwilio) -> None:
    await channel.send(_out("You’re doing great — “one day at a time”…"))
    assert twilio.messages()[0].one("Body") == 'You\'re doing great - "one day at a time"...'


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (21610, None, Failed("", FailureKind.OPTED_OUT, code="21610")),
        (21211, None, Failed("", FailureKind.UNREACHABLE, code="21211")),
        (21614, None, Failed("", FailureKind.UNREACHABLE, code="21614")),
        (20429, 429, Failed("", FailureKind.TRANSIENT, code="20429")),
        (20500, 500, Failed("", FailureKind.TRANSIENT, code="20500")),
        (20003, 401, Failed("", FailureKind.TRANSIENT, code="20003")),
        (21620, 400, Failed("", FailureKind.REFUSED, code="21620")),
    ],
)
async def test_twilio_refusals_become_failures_the_outbox_understands(
    channel: SmsChannel, twilio: FakeTwilio, code: int, status: int | None, expected: Failed
) -> None:
    twilio.fail_next(code, status=status)
    result = await channel.send(_out())
    assert isinstance(result, Failed)
    assert (result.kind, result.code) == (expected.kind, expected.code)
    assert str(code) in result.reason


async def test_a_network_error_is_transient() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sms = sms_channel(f"http://127.0.0.1:{port}", messages_per_second=1.0)
    try:
        result = await sms.send(_out())
    finally:
        await sms.close()
    assert isinstance(result, Failed)
    assert result.kind is FailureKind.TRANSIENT and "network" in result.reason


def test_only_the_twilio_api_host_is_rebased() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9999/")
    assert (
        client.rebase(f"{TWILIO_API}/2010-04-01/Accounts.json")
        == "http://127.0.0.1:9999/2010-04-01/Accounts.json"
    )
    assert (
        client.rebase("https://lookups.twilio.com/v2/PhoneNumbers/x")
        == "https://lookups.twilio.com/v2/PhoneNumbers/x"
    )
    assert client.rebase("https://api.twilio.com.evil.example/x") == "https://api.twilio.com.evil.example/x"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_the_fake_refuses_what_the_api_description_does_not_allow(twilio: FakeTwilio) -> None:
    url = f"{twilio.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    good = {"To": ALEX, "From": FROM, "Body": "hi"}
    auth = _basic(ACCOUNT_SID, AUTH_TOKEN)
    async with aiohttp.ClientSession() as http:
        for data, auth_used, status in [
            ({**good, "Colour": "blue"}, auth, 400),  # unknown parameter
            ({**good, "StatusCallback": "not a url"}, auth, 400),  # format: uri
            ({**good, "MessagingServiceSid": "MG123"}, auth, 400),  # pattern
            ({"From": FROM, "Body": "hi"}, auth, 400),  # required To
            ({"To": ALEX, "Body": "hi"}, auth, 400),  # no sender: Twilio 21603
            (good, _basic(ACCOUNT_SID, "wrong"), 401),
            (good, auth, 201),
        ]:
            async with http.post(url, data=data, headers=auth_used) as response:
                assert response.status == status, (data, await response.text())
        async with http.post(url.replace("Messages", "Mesages"), data=good, headers=auth) as response:
            assert response.status == 404
    assert len(twilio.violations) == 3
    twilio.violations.clear()


async def test_settings_build_the_channel_with_the_configured_rate(twilio: FakeTwilio) -> None:
    assert SmsChannel.from_settings(Settings()) is None
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="(501) 712-2661",
        twilio_api_url=twilio.url,
        twilio_messages_per_second=3,
        public_url="https://peerline.example.org/",
    )
    assert settings.twilio_from_number == FROM  # normalised to E.164
    sms = SmsChannel.from_settings(settings)
    assert sms is not None and sms.limiter is not None
    try:
        assert sms.limiter.per_second == 3
        await sms.send(_out())
    finally:
        await sms.close()
    assert twilio.messages()[0].one("StatusCallback") == f"{CALLBACK}?m=7"


def test_a_bad_sending_number_is_a_clear_settings_error() -> None:
    with pytest.raises(ValueError, match=r"twilio_from_number[\s\S]*bad phone number '\+1555'"):
        Settings(twilio_from_number="+1555")
    assert Settings(twilio_from_number="12345").twilio_from_number == "12345"  # a short code


# -- through the outbox, on SQLite and PostgreSQL -------------------------------------------------------


async def _alex(app: App) -> ChannelIdentity:
    async with app.db.transaction() as s:
        person = await add_person(s, app.clock.now(), role=Role.PIR, name="Alex", phone=ALEX)
        return (await s.scalars(select(ChannelIdentity).where(ChannelIdentity.person_id == person.id))).one()


async def _queue(app: App, ident: ChannelIdentity, text: str = "check-in time") -> None:
    async with app.db.transaction() as s:
        queue_message(s, ident, text, MessageKind.CHECKIN, app.clock.now())


async def test_21610_marks_the_number_opted_out_and_is_never_retried(
    app: App, clock: ManualClock, channel: SmsChannel, twilio: FakeTwilio
) -> None:
    ident = await _alex(app)
    await _queue(app, ident)
    twilio.fail_next(21610)
    sender = OutboxSender(app.db, {"sms": channel}, clock)
    assert await sender.drain() == 1
    clock.advance(timedelta(days=1))
    assert await sender.drain() == 0
    assert len(twilio.messages()) == 1
    async with app.db.transaction() as s:
        message = (await s.scalars(select(Message))).one()
        refreshed = await s.get(ChannelIdentity, ident.id)
        assert (await s.scalars(select(Outbox))).all() == []
    assert (message.status, message.error_code) == (MessageStatus.FAILED, "21610")
    assert refreshed is not None and refreshed.opted_out_at is not None
    await _queue(app, refreshed, "another check-in")  # nothing is queued to an opted-out number
    assert await sender.drain() == 0


@pytest.mark.parametrize(("code", "status"), [(20429, 429), (20500, 500)])
async def test_rate_limits_and_outages_are_retried_with_backoff(
    app: App, clock: ManualClock, channel: SmsChannel, twilio: FakeTwilio, code: int, status: int
) -> None:
    ident = await _alex(app)
    await _queue(app, ident)
    twilio.fail_next(code, status=status, times=2)
    sender = OutboxSender(app.db, {"sms": channel}, clock, retry=RetryPolicy(base_seconds=2))
    assert await sender.drain() == 1  # refused; retry in 2 s
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=2))
    assert await sender.drain() == 1  # refused again; retry in 4 s
    clock.advance(timedelta(seconds=3))
    assert await sender.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert await sender.drain() == 1
    assert [r.answered for r in twilio.messages()] == [status, status, 201]
    async with app.db.transaction() as s:
        message = (await s.scalars(select(Message))).one()
    assert message.status == MessageStatus.SENT
    assert message.provider_id == f"sms:{next(iter(twilio.created))}"


async def test_the_sender_waits_for_the_sending_numbers_rate(
    app: App, clock: ManualClock, twilio: FakeTwilio
) -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        now[0] += seconds

    limiter = RateLimiter(3, clock=lambda: now[0], sleep=sleep)
    sms = _channel(twilio, limiter=limiter)
    ident = await _alex(app)
    for number in range(4):
        await _queue(app, ident, f"message {number}")
    try:
        assert await OutboxSender(app.db, {"sms": sms}, clock).drain() == 4
    finally:
        await sms.close()
    assert waits == [0.333, 0.333, 0.333]  # 3 a second from one long code
    assert len(twilio.messages()) == 4
