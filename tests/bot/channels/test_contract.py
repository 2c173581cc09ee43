"""The Channel contract, one test class over console, Telegram (a local Bot API server) and SMS (a local
Twilio REST server): send a text, send with buttons, a permanent and a transient failure typed by
`FailureKind`, an inbound message handed to whoever listens, close."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot.channels.base import Button, Channel, Failed, FailureKind, Inbound, OutboundMessage, Sent
from bot.channels.console import ConsoleChannel
from bot.channels.telegram.adapter import TelegramChannel, build_bot
from bot.clock import ManualClock
from tests.bot.channels.fake_telegram import BLOCKED, FakeTelegram
from tests.fakes.twilio import FakeTwilio, sms_channel

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
BUTTONS = ((Button("Yes", "checkin:feel:yes"), Button("No", "checkin:feel:no")),)


@dataclass
class Under:
    """A channel under test, with the fake at its edge: where to send, and how to make sends fail."""

    channel: Channel
    address: str
    delivered: Callable[[], list[str]]  # texts the far side received for `address`, in order
    refuse_next: Callable[[], None]  # the provider refuses this address for good
    throttle_next: Callable[[], None]  # the provider says: too many, try later


async def _console() -> AsyncIterator[Under]:
    console = ConsoleChannel()
    yield Under(
        console,
        "alex",
        lambda: [m.text for m in console.sent.get("alex", [])],
        lambda: console.fail_next(FailureKind.UNREACHABLE),
        lambda: console.fail_next(FailureKind.TRANSIENT),
    )


async def _telegram() -> AsyncIterator[Under]:
    fake = await FakeTelegram("123456:TEST-token").start()
    channel = TelegramChannel(build_bot("123456:TEST-token", fake.url), ManualClock(NOW))
    try:
        yield Under(
            channel,
            "111",
            lambda: fake.texts("111"),
            lambda: fake.fail_next("sendMessage", 403, BLOCKED),
            lambda: fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3),
        )
    finally:
        await channel.close()
        await fake.stop()
    assert fake.problems == []


async def _sms() -> AsyncIterator[Under]:
    twilio = FakeTwilio()
    await twilio.start()
    channel = sms_channel(twilio.url)
    try:
        yield Under(
            channel,
            "+12025550143",
            lambda: twilio.bodies_to("+12025550143"),
            lambda: twilio.fail_next(21211),
            lambda: twilio.fail_next(20429),
        )
    finally:
        await channel.close()
        await twilio.close()
    assert twilio.violations == []


@pytest.fixture(params=[_console, _telegram, _sms], ids=["console", "telegram", "sms"])
async def under(request: pytest.FixtureRequest) -> AsyncIterator[Under]:
    async for item in request.param():
        yield item


def _out(
    under: Under, text: str, message_id: int = 1, buttons: tuple[tuple[Button, ...], ...] = ()
) -> OutboundMessage:
    return OutboundMessage(message_id, under.channel.name, under.address, text, buttons)


class TestChannelContract:
    async def test_a_text_is_delivered_and_named_by_the_provider(self, under: Under) -> None:
        await under.channel.start()
        result = await under.channel.send(_out(under, "Hi Alex, it's check-in time."))
        assert isinstance(result, Sent)
        assert under.delivered() == ["Hi Alex, it's check-in time."]

    async def test_buttons_reach_the_person_as_buttons_or_numbered_choices(self, under: Under) -> None:
        result = await under.channel.send(_out(under, "Feeling safe today?", buttons=BUTTONS))
        assert isinstance(result, Sent)
        (text,) = under.delivered()
        assert text.startswith("Feeling safe today?")
        if not under.channel.has_buttons:  # SMS: the choices are in the text, numbered
            assert "1" in text and "Yes" in text and "2" in text and "No" in text

    async def test_a_refused_address_is_a_permanent_failure_and_nothing_is_delivered(
        self, under: Under
    ) -> None:
        under.refuse_next()
        result = await under.channel.send(_out(under, "are you there?"))
        assert isinstance(result, Failed)
        assert result.permanent and result.kind is FailureKind.UNREACHABLE
        assert under.delivered() == []

    async def test_a_throttled_send_is_transient_and_the_next_one_goes_through(self, under: Under) -> None:
        under.throttle_next()
        result = await under.channel.send(_out(under, "first try"))
        assert isinstance(result, Failed)
        assert not result.permanent and result.kind is FailureKind.TRANSIENT
        assert isinstance(await under.channel.send(_out(under, "second try", 2)), Sent)
        assert under.delivered() == ["second try"]

    async def test_an_inbound_message_goes_to_whoever_listens(self, under: Under) -> None:
        got: list[Inbound] = []

        async def receive(inbound: Inbound) -> object:
            got.append(inbound)
            return None

        message = Inbound(channel=under.channel.name, address=under.address, text="7", received_at=NOW)
        assert not under.channel.listening
        with pytest.raises(RuntimeError, match="listen"):
            await under.channel.deliver(message)
        under.channel.listen(receive)
        assert under.channel.listening
        await under.channel.deliver(message)
        assert got == [message]

    async def test_close_is_safe_twice(self, under: Under) -> None:
        await under.channel.close()
        await under.channel.close()
