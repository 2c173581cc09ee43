"""The Telegram channel against a fake Bot API server over real HTTP, on SQLite and PostgreSQL.

The bot talks to the fake through `PEERLINE_TELEGRAM_API_URL` (aiogram's `TelegramAPIServer`), exactly as
it would to a self-hosted Bot API server; the fake checks every request against the published API
description, so a call Telegram would refuse fails the test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import signal
import socket
import sys
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from alembic import command
from alembic.config import Config
from pydantic import SecretStr
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.app import App
from bot.channels.base import Button, Failed, FailureKind, Inbound, OutboundMessage, Sent
from bot.channels.ratelimit import RateLimiter
from bot.channels.telegram.adapter import TelegramChannel, build_bot, callback_data
from bot.channels.telegram.runtime import Mode, TelegramRunner, telegram_mode, telegram_of
from bot.checkins.sessions import start_checkin
from bot.cli.main import app as cli_app
from bot.clock import ManualClock
from bot.outbox.queue import queue_message, queue_to
from bot.outbox.sender import OutboxSender
from bot.people.enrolment import add_person, assign, resolve
from bot.people.invites import create_invite
from bot.server import make_web_app
from bot.staff.grammar import Verb
from config.settings import Settings, SettingsError
from storage.db import MIGRATIONS_DIR, Database
from storage.models import (
    Alert,
    AlertStatus,
    Answer,
    ChannelIdentity,
    Message,
    MessageKind,
    MessageStatus,
    Outbox,
    Role,
)
from tests.bot.channels.fake_telegram import BLOCKED, CHAT_NOT_FOUND, FakeTelegram, scope_key

TOKEN = "123456:TEST-token"
ALEX, SAM = "111", "222"
SECRET = "webhook-secret_1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram(TOKEN).start()
    yield server
    await server.stop()
    assert server.problems == []


@pytest.fixture
def waits() -> list[float]:
    """How long the sender was told to wait before each send (on a virtual clock: nobody sleeps)."""
    return []


@pytest.fixture
async def telegram(
    fake: FakeTelegram, clock: ManualClock, waits: list[float]
) -> AsyncIterator[TelegramChannel]:
    virtual = [0.0]

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        virtual[0] += seconds

    limiter = RateLimiter(30, 1.0, clock=lambda: virtual[0], sleep=wait)
    channel = TelegramChannel(build_bot(TOKEN, fake.url), clock, limiter=limiter)
    yield channel
    await channel.close()


@pytest.fixture
async def tg(
    db_url: str, clock: ManualClock, telegram: TelegramChannel, fake: FakeTelegram
) -> AsyncIterator[App]:
    """The whole application with the Telegram channel pointed at the fake."""
    settings = Settings(database_url=db_url, telegram_token=TOKEN, telegram_api_url=fake.url)
    application = App.build(settings, clock=clock, channels={telegram.name: telegram})
    await application.db.create_all()
    yield application
    await application.close()


async def enrol(app: App) -> None:
    now = app.clock.now()
    async with app.db.transaction() as s:
        await add_person(s, now, role=Role.PEER, name="Sam", telegram=SAM)
        await add_person(s, now, role=Role.PIR, name="Alex", telegram=ALEX)
        await assign(s, now, pir="Alex", peer="Sam")


@asynccontextmanager
async def polling(app: App) -> AsyncIterator[TelegramRunner]:
    channel = telegram_of(app)
    assert channel is not None
    runner = TelegramRunner(app, channel, Mode.POLLING, polling_timeout=1)
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


async def handled(fake: FakeTelegram, app: App, update: dict[str, Any]) -> None:
    """Wait until the bot fully handled `update`, then deliver what the pipeline queued."""
    await fake.wait_handled(update)
    await app.sender.drain()


def text(app: App, key: str, **values: object) -> str:
    return app.content.messages.text(key, "en", program=app.settings.program_name, **values)


def keyboard(message: dict[str, Any]) -> list[list[str]]:
    return [[b["text"] for b in row] for row in message.get("reply_markup", {}).get("inline_keyboard", [])]


# -- sending ----------------------------------------------------------------------------------------


async def test_send_renders_buttons_as_callback_data(telegram: TelegramChannel, fake: FakeTelegram) -> None:
    rows = (
        (Button("4", "mood:4"), Button("Skip", "anything_else:skip")),
        (Button("Acknowledge", "alert:ack:12"), Button("Too long", "x:" + "y" * 70)),
    )
    result = await telegram.send(OutboundMessage(1, "telegram", ALEX, "How are you?", rows))
    (message,) = fake.chat(ALEX)
    assert result == Sent(provider_id=f"tg:m:{ALEX}:{message['message_id']}")
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    # A payload that cannot fit Telegram's 64 bytes is dropped (and logged): the person can still type.
    assert {b["text"]: b["callback_data"] for b in buttons} == {
        "4": "a:mood:4",
        "Skip": "a:anything_else:skip",
        "Acknowledge": "alert:ack:12",
    }
    assert callback_data("plain") == "plain"


async def test_a_long_text_goes_as_several_messages_with_the_buttons_on_the_last(
    telegram: TelegramChannel, fake: FakeTelegram, waits: list[float]
) -> None:
    text = "\n\n".join(f"Paragraph {n}: " + "so much to say " * 120 for n in range(5))  # ~9,100 chars
    rows = ((Button("Acknowledge", "alert:ack:12"),),)
    assert telegram.limiter is not None
    await telegram.limiter.acquire(ALEX)  # as the outbox sender does before each send
    result = await telegram.send(OutboundMessage(1, "telegram", ALEX, text, rows))
    messages = fake.chat(ALEX)
    assert len(messages) == 3
    assert result == Sent(provider_id=f"tg:m:{ALEX}:{messages[-1]['message_id']}")
    assert " ".join(m["text"] for m in messages).split() == text.split()  # cut between words
    assert [keyboard(m) for m in messages] == [[], [], [["Acknowledge"]]]
    assert waits == [1.0, 1.0]  # each further piece waited its turn in the chat (1 message/s)


async def test_a_long_message_relayed_to_a_peer_arrives_whole(tg: App, fake: FakeTelegram) -> None:
    await enrol(tg)
    words = "I need to tell you everything that happened this week. " * 74  # ~4,070 chars
    await tg.pipeline.handle(
        Inbound(
            channel="telegram", address=ALEX, text=words, received_at=tg.clock.now(), provider_id="tg:u:9"
        )
    )
    await tg.sender.drain()
    relayed = fake.chat(SAM)
    assert len(relayed) == 2  # the name in front took it over Telegram's 4,096
    assert "Alex" in relayed[0]["text"]
    assert " ".join(words.split()) in " ".join(" ".join(m["text"] for m in relayed).split())
    async with tg.db.transaction() as s:
        failed = (await s.scalars(select(Message).where(col(Message.status) == "failed"))).all()
    assert failed == []


@pytest.mark.parametrize(
    ("status", "description", "retry_after", "expected"),
    [
        (
            429,
            "Too Many Requests: retry after 3",
            3,
            Failed("", FailureKind.TRANSIENT, code="429", retry_after=3.0),
        ),
        (403, BLOCKED, None, Failed("", FailureKind.UNREACHABLE, code="403")),
        (400, CHAT_NOT_FOUND, None, Failed("", FailureKind.UNREACHABLE, code="400")),
        (400, "Bad Request: message is too long", None, Failed("", FailureKind.REFUSED, code="400")),
        (502, "Bad Gateway", None, Failed("", FailureKind.TRANSIENT, code="5xx")),
    ],
)
async def test_send_failures_tell_the_sender_what_to_do(
    telegram: TelegramChannel,
    fake: FakeTelegram,
    status: int,
    description: str,
    retry_after: int | None,
    expected: Failed,
) -> None:
    fake.fail_next("sendMessage", status, description, retry_after=retry_after)
    result = await telegram.send(OutboundMessage(1, "telegram", ALEX, "hello"))
    assert isinstance(result, Failed)
    assert description in result.reason
    assert (result.kind, result.code, result.retry_after) == (
        expected.kind,
        expected.code,
        expected.retry_after,
    )


async def test_network_errors_are_transient(clock: ManualClock, fake: FakeTelegram) -> None:
    await fake.stop()  # nothing listens there any more
    channel = TelegramChannel(build_bot(TOKEN, fake.url), clock)
    try:
        result = await channel.send(OutboundMessage(1, "telegram", ALEX, "hello"))
    finally:
        await channel.close()
    assert isinstance(result, Failed)
    assert (result.kind, result.code) == (FailureKind.TRANSIENT, "network")


# -- a check-in over long polling ------------------------------------------------------------------


async def test_checkin_with_buttons_and_typed_answers(
    tg: App, fake: FakeTelegram, waits: list[float]
) -> None:
    await enrol(tg)
    async with polling(tg):
        async with tg.db.transaction() as s:
            alex = await resolve(s, "Alex")
            await start_checkin(s, tg.content, alex, "daily_checkin", tg.clock.now(), tg.buttons)
        await tg.sender.drain()
        intro, mood = fake.chat(ALEX)
        assert "check-in time" in intro["text"]
        assert "reply_markup" not in intro
        assert keyboard(mood) == [["1", "2", "3", "4", "5"]]  # a 1-5 scale is one row

        await handled(fake, tg, fake.press(ALEX, "4"))
        # The press is acknowledged and the question now shows the answer, without buttons.
        assert len(fake.calls_to("answerCallbackQuery")) == 1
        assert fake.chat(ALEX)[1]["text"] == mood["text"] + "\n\n→ 4"
        assert keyboard(fake.chat(ALEX)[1]) == []

        assert "cravings" in fake.texts(ALEX)[-1]
        await handled(fake, tg, fake.user_message(ALEX, "7"))  # typed answers work too
        assert keyboard(fake.chat(ALEX)[-1]) == [["Yes", "No"]]
        await handled(fake, tg, fake.press(ALEX, "No"))
        assert "thoughts of killing yourself" in fake.texts(ALEX)[-1]
        await handled(fake, tg, fake.user_message(ALEX, "no"))
        assert keyboard(fake.chat(ALEX)[-1]) == [["Skip"]]
        await handled(fake, tg, fake.press(ALEX, "Skip"))
        with pytest.raises(AssertionError, match="no button 'Skip'"):
            fake.press_update(ALEX, "Skip")  # answered questions keep no buttons: no second press
    assert "Thank you for checking in" in fake.texts(ALEX)[-1]
    async with tg.db.transaction() as s:
        answers = {a.step_id: a.value for a in (await s.scalars(select(Answer))).all()}
        inbound = (await s.scalars(select(Message).where(col(Message.provider_id).like("tg:u:%")))).all()
    assert answers == {"mood": 4, "craving": 7, "used": False, "safety": False, "anything_else": None}
    assert len(inbound) == 5
    assert len(fake.calls_to("editMessageText")) == 3
    # Every send after the first to the same chat waited for the 1-message-per-second gap.
    assert len(waits) == len(fake.chat(ALEX)) - 1
    assert all(abs(w - 1.0) < 1e-9 for w in waits)


def _on_virtual_time(fake: FakeTelegram, clock: ManualClock) -> TelegramChannel:
    """A Telegram channel whose rate limiter, and the fake's call times, run on one virtual clock."""
    virtual = [0.0]

    async def advance(seconds: float) -> None:
        virtual[0] += seconds

    fake.clock = lambda: virtual[0]
    limiter = RateLimiter(30, 1.0, clock=lambda: virtual[0], sleep=advance)
    return TelegramChannel(build_bot(TOKEN, fake.url), clock, limiter=limiter)


async def test_sender_keeps_telegram_rate_limits(tg: App, fake: FakeTelegram, clock: ManualClock) -> None:
    channel = _on_virtual_time(fake, clock)
    chats = [str(1000 + n) for n in range(40)] + [ALEX] * 3
    async with tg.db.transaction() as s:
        for chat in chats:
            queue_to(
                s,
                channel="telegram",
                address=chat,
                person_id=None,
                text="hi",
                kind=MessageKind.SYSTEM,
                now=clock.now(),
            )
    try:
        assert await OutboxSender(tg.db, {"telegram": channel}, clock).drain() == len(chats)
    finally:
        await channel.close()
    sends = fake.calls_to("sendMessage")
    times = [c.at for c in sends]
    assert all(b - a >= 1 / 30 - 1e-9 for a, b in itertools.pairwise(times))  # ≤ 30/s overall
    to_alex = [c.at for c in sends if c.params["chat_id"] == int(ALEX)]
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(to_alex))  # ≤ 1/s per chat


async def test_a_chat_inside_its_gap_does_not_hold_back_other_chats(
    tg: App, fake: FakeTelegram, clock: ManualClock
) -> None:
    """60 messages queued to one chat, then a check-in to another: the check-in does not wait a minute."""
    channel = _on_virtual_time(fake, clock)
    flood = "999"
    async with tg.db.transaction() as s:
        for n in range(60):
            queue_to(
                s,
                channel="telegram",
                address=flood,
                person_id=None,
                text=f"flood {n}",
                kind=MessageKind.SYSTEM,
                now=clock.now(),
            )
        queue_to(
            s,
            channel="telegram",
            address=ALEX,
            person_id=None,
            text="check-in question",
            kind=MessageKind.SYSTEM,
            now=clock.now(),
        )
    try:
        assert await OutboxSender(tg.db, {"telegram": channel}, clock).drain() == 61
    finally:
        await channel.close()
    sends = fake.calls_to("sendMessage")
    (to_alex,) = [c for c in sends if c.params["chat_id"] == int(ALEX)]
    assert to_alex.at < 1.0  # not after 60 s of the other chat's gaps
    to_flood = [c for c in sends if c.params["chat_id"] == int(flood)]
    assert [c.params["text"] for c in to_flood] == [f"flood {n}" for n in range(60)]  # still in order
    assert all(b.at - a.at >= 1.0 - 1e-9 for a, b in itertools.pairwise(to_flood))


# -- webhook -----------------------------------------------------------------------------------------


async def test_webhook_handles_updates_before_answering(tg: App, fake: FakeTelegram) -> None:
    await enrol(tg)
    tg.settings = tg.settings.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    runner = web.AppRunner(make_web_app(tg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tg.settings = tg.settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}/"})
    channel = telegram_of(tg)
    assert channel is not None
    telegram = TelegramRunner(tg, channel, Mode.WEBHOOK)
    telegram.start()
    try:
        await fake.wait_for(lambda: fake.webhook is not None)
        assert fake.webhook is not None
        assert fake.webhook["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
        assert fake.webhook["secret_token"] == SECRET

        update = fake.message_update(ALEX, "rough day, can we talk later?")
        assert await fake.post_to_webhook(update, secret="wrong") == 401
        assert await fake.post_to_webhook({**update, "update_id": 1}, secret="") == 401
        assert await _inbound(tg) == []

        # A handler crash answers 500, so Telegram delivers the update again later.
        def crash(inbound: Inbound) -> Any:
            raise RuntimeError("database down")

        channel.listen(crash)
        assert await fake.post_to_webhook(update) == 500
        channel.listen(tg.pipeline.handle)
        assert await fake.post_to_webhook(update) == 200
        # 200 came after the update was stored and handled: the relay to the peer is already queued.
        assert await _inbound(tg) == [f"tg:u:{update['update_id']}"]
        async with tg.db.transaction() as s:
            assert len((await s.scalars(select(Outbox).where(col(Outbox.address) == SAM))).all()) == 1
        assert await fake.post_to_webhook(update) == 200  # a repeat is dropped by update id
        assert await _inbound(tg) == [f"tg:u:{update['update_id']}"]
        await tg.sender.drain()
        (relayed,) = fake.texts(SAM)
        assert relayed.startswith("Alex (PIR) wrote: rough day, can we talk later?")
    finally:
        await telegram.stop()
        await runner.cleanup()


async def _inbound(app: App) -> list[str | None]:
    async with app.db.transaction() as s:
        rows = (await s.scalars(select(Message).where(col(Message.provider_id).like("tg:u:%")))).all()
    return [m.provider_id for m in rows]


def test_webhook_mode_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    base: dict[str, Any] = {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"}
    hook = {**base, "telegram_token": TOKEN, "public_url": "https://peerline.example.org"}
    with pytest.raises(SettingsError, match="PEERLINE_TELEGRAM_WEBHOOK_SECRET"):
        telegram_mode(Settings(**hook))
    with pytest.raises(SettingsError, match="PEERLINE_TELEGRAM_WEBHOOK_SECRET must be"):
        telegram_mode(Settings(**hook, telegram_webhook_secret="no spaces allowed"))
    assert telegram_mode(Settings(**hook, telegram_webhook_secret=SECRET)) is Mode.WEBHOOK
    assert telegram_mode(Settings(**base, telegram_token=TOKEN)) is Mode.POLLING
    assert telegram_mode(Settings(**base)) is None

    env = {
        "PEERLINE_DATABASE_URL": base["database_url"],
        "PEERLINE_TELEGRAM_TOKEN": TOKEN,
        "PEERLINE_PUBLIC_URL": "https://peerline.example.org",
        "PEERLINE_TELEGRAM_WEBHOOK_SECRET": "",
    }
    result = CliRunner().invoke(cli_app, ["serve", "--port", "8099"], env=env)
    assert result.exit_code == 2
    assert "PEERLINE_TELEGRAM_WEBHOOK_SECRET" in result.output


# -- enrolment, keywords, alerts --------------------------------------------------------------------


async def test_invite_link_enrols_on_start_once(tg: App, fake: FakeTelegram, clock: ManualClock) -> None:
    now = clock.now()
    async with tg.db.transaction() as s:
        jo = await add_person(s, now, role=Role.PIR, name="Jo")
        expired = await create_invite(s, jo, now - timedelta(hours=2), hours=1)
        invite = await create_invite(s, jo, now, hours=72)  # a new code retires open ones, not this one
    async with polling(tg):
        await handled(fake, tg, fake.user_message("333", f"/start {invite.code}", name="Jo"))
        assert fake.texts("333") == [text(tg, "opted_in")]
        await handled(fake, tg, fake.user_message("444", f"/start {invite.code}"))  # used already
        await handled(fake, tg, fake.user_message("555", f"/start {expired.code}"))
        await handled(fake, tg, fake.user_message("666", "hello?"))  # no code at all
        await handled(fake, tg, fake.user_message("777", "/start"))
        # Tapping the link again from the linked chat is a START, not a message for the peer.
        await handled(fake, tg, fake.user_message("333", f"/start {invite.code}", name="Jo"))
    assert fake.texts("444") == [text(tg, "invite_invalid")]
    assert fake.texts("555") == [text(tg, "invite_invalid")]
    assert fake.texts("666") == [text(tg, "unknown_sender")]
    assert fake.texts("777") == [text(tg, "unknown_sender")]
    assert fake.texts("333") == [text(tg, "opted_in")] * 2
    async with tg.db.transaction() as s:
        linked = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.channel) == "telegram"))
        ).all()
    assert [(i.address, i.person_id) for i in linked] == [("333", jo.id)]
    assert linked[0].consent_at is not None


async def test_cli_invite_prints_a_start_link(fake: FakeTelegram, tmp_path: Path, clock: ManualClock) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    database = Database(url)
    await database.create_all()
    async with database.engine.begin() as conn:  # the schema of the models, marked current for `upgrade`

        def stamp(sync_conn: Any) -> None:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
            cfg.attributes["connection"] = sync_conn
            command.stamp(cfg, "head")

        await conn.run_sync(stamp)
    async with database.transaction() as s:
        await add_person(s, clock.now(), role=Role.PIR, name="Jo")
    await database.dispose()
    env = {
        "PEERLINE_DATABASE_URL": url,
        "PEERLINE_TELEGRAM_TOKEN": TOKEN,
        "PEERLINE_TELEGRAM_API_URL": fake.url,
    }
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, ["invite", "Jo", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["link"] == f"https://t.me/PeerlineTestBot?start={data['code']}"
    assert len(fake.calls_to("getMe")) == 1


async def test_stop_and_start_commands(tg: App, fake: FakeTelegram) -> None:
    await enrol(tg)
    async with polling(tg):
        await handled(fake, tg, fake.user_message(ALEX, "/stop@PeerlineTestBot"))
        assert fake.texts(ALEX) == [text(tg, "opted_out")]
        async with tg.db.transaction() as s:
            alex = await resolve(s, "Alex")
            assert (
                await start_checkin(s, tg.content, alex, "daily_checkin", tg.clock.now(), tg.buttons) is None
            )
        await handled(fake, tg, fake.user_message(ALEX, "/start"))
    assert fake.texts(ALEX)[-1] == text(tg, "opted_in")
    async with tg.db.transaction() as s:
        identity = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.address) == ALEX))
        ).one()
    assert identity.opted_out_at is None


async def test_command_menus_per_role(tg: App, fake: FakeTelegram) -> None:
    await enrol(tg)
    async with polling(tg):
        await fake.wait_for(lambda: bool(fake.calls_to("getUpdates")))

    def names(key: tuple[str, str]) -> list[str]:
        return [c["command"] for c in fake.commands[key]]

    assert names(scope_key()) == ["start", "stop", "help"]
    assert fake.commands[scope_key(None, "es")][1]["description"] == "Dejar de recibir mensajes"
    staff_menu = names(scope_key({"type": "chat", "chat_id": int(SAM)}))
    # Built from the command grammar: every staff command is listed (DIGEST was missing once).
    assert staff_menu[:2] == ["ack", "done"] and "digest" in staff_menu
    assert set(staff_menu) == {verb.value for verb in Verb}
    assert scope_key({"type": "chat", "chat_id": int(ALEX)}) not in fake.commands


async def test_alert_acknowledged_with_a_button(tg: App, fake: FakeTelegram) -> None:
    await enrol(tg)
    async with polling(tg):
        await handled(fake, tg, fake.user_message(ALEX, "I relapsed last night and used again"))
        async with tg.db.transaction() as s:
            alert = (await s.scalars(select(Alert))).one()
        page = fake.chat(SAM)[-1]
        ack = tg.content.messages.text("button_ack", "en")
        buttons = {
            b["text"]: b["callback_data"] for row in page["reply_markup"]["inline_keyboard"] for b in row
        }
        assert buttons[ack] == f"alert:ack:{alert.id}"
        await handled(fake, tg, fake.press(SAM, ack, name="Sam"))
    async with tg.db.transaction() as s:
        alert_now = await s.get(Alert, alert.id)
        sam = await resolve(s, "Sam")
    assert alert_now is not None
    assert (alert_now.status, alert_now.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, sam.id)
    edited = next(m for m in fake.chat(SAM) if m["message_id"] == page["message_id"])
    assert edited["text"] == page["text"] + f"\n\n→ {ack}"
    assert len(fake.calls_to("answerCallbackQuery")) == 1
    # Acknowledge is spent, Resolve stays: the peer can close the alert from the same message.
    done = tg.content.messages.text("button_done", "en")
    kept = [b["text"] for row in edited.get("reply_markup", {}).get("inline_keyboard", []) for b in row]
    assert kept == [done]
    async with polling(tg):
        await handled(fake, tg, fake.press(SAM, done, name="Sam"))
    async with tg.db.transaction() as s:
        resolved = await s.get(Alert, alert.id)
    assert resolved is not None
    assert resolved.status == AlertStatus.RESOLVED


# -- failures through the outbox --------------------------------------------------------------------


async def test_flood_control_waits_as_told(tg: App, fake: FakeTelegram, clock: ManualClock) -> None:
    await enrol(tg)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    async with tg.db.transaction() as s:
        identity = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.address) == ALEX))
        ).one()
        queue_message(s, identity, "hello", MessageKind.REPLY, clock.now())
    assert await tg.sender.drain() == 1
    async with tg.db.transaction() as s:
        row = (await s.scalars(select(Outbox))).one()
    assert row.next_attempt_at == clock.now() + timedelta(seconds=7)
    clock.advance(timedelta(seconds=6))
    assert await tg.sender.drain() == 0
    clock.advance(timedelta(seconds=1))
    assert await tg.sender.drain() == 1
    assert len(fake.calls_to("sendMessage")) == 2
    async with tg.db.transaction() as s:
        message = (await s.scalars(select(Message))).one()
    assert message.status == MessageStatus.SENT
    assert message.provider_id == f"tg:m:{ALEX}:{fake.chat(ALEX)[0]['message_id']}"


async def test_blocked_bot_marks_unreachable_and_tells_the_peer(
    tg: App, fake: FakeTelegram, clock: ManualClock
) -> None:
    await enrol(tg)
    fake.blocked.add(ALEX)
    async with tg.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, tg.content, alex, "daily_checkin", clock.now(), tg.buttons)
    await tg.sender.drain()
    clock.advance(timedelta(days=1))
    await tg.sender.drain()
    to_alex = [c for c in fake.calls_to("sendMessage") if c.params["chat_id"] == int(ALEX)]
    assert len(to_alex) == 2  # intro and first question, each tried once: a refusal is never retried
    assert fake.texts(SAM) == [text(tg, "peer_told_unreachable", name="Alex", channel="telegram")]
    async with tg.db.transaction() as s:
        identity = (
            await s.scalars(select(ChannelIdentity).where(col(ChannelIdentity.address) == ALEX))
        ).one()
        failed = (await s.scalars(select(Message).where(col(Message.address) == ALEX))).all()
        alex = await resolve(s, "Alex")
        again = await start_checkin(s, tg.content, alex, "daily_checkin", clock.now(), tg.buttons)
    assert identity.unreachable_at is not None
    assert {(m.status, m.error_code) for m in failed} == {(MessageStatus.FAILED, "403")}
    assert again is None


# -- the real process ---------------------------------------------------------------------------------


async def test_serve_runs_a_checkin_over_telegram_and_stops_cleanly(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")}
    env |= {
        "PEERLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}",
        "PEERLINE_TELEGRAM_TOKEN": TOKEN,
        "PEERLINE_TELEGRAM_API_URL": fake.url,
        "PEERLINE_TICK_SECONDS": "0.5",
        "PEERLINE_QUIET_HOURS": "off",  # the check-in time below is 12 h from now, whatever hour that is
    }

    async def peerline(*args: str) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env, stdout=PIPE, stderr=PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, f"peerline {' '.join(args)}: {err.decode()}{out.decode()}"

    # A daily check-in time half a day away, so the scheduler stays out of this test's way.
    later = (datetime.now(ZoneInfo("America/New_York")) + timedelta(hours=12)).strftime("%H:%M")
    await peerline("people", "add", "--role", "peer", "--name", "Sam", "--telegram", SAM)
    await peerline(
        "people", "add", "--role", "pir", "--name", "Alex", "--telegram", ALEX, "--checkin-time", later
    )
    await peerline("assign", "--pir", "Alex", "--peer", "Sam")
    await peerline("checkin", "send", "Alex")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        serve = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--port",
            str(port),
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        # The opt-in confirmation of enrolment, the intro, then the mood question with its buttons.
        await fake.wait_for(
            lambda: keyboard((fake.chat(ALEX) or [{}])[-1]) == [["1", "2", "3", "4", "5"]], within=60
        )
        question = fake.chat(ALEX)[-1]
        await fake.wait_handled(fake.press(ALEX, "4"), within=30)
        await fake.wait_for(lambda: "cravings" in fake.texts(ALEX)[-1], within=30)
        answered = next(m for m in fake.chat(ALEX) if m["message_id"] == question["message_id"])
        assert answered["text"] == question["text"] + "\n\n→ 4"
        await fake.wait_handled(fake.user_message(ALEX, "7"), within=30)
        await fake.wait_for(lambda: keyboard(fake.chat(ALEX)[-1]) == [["Yes", "No"]], within=30)
        assert fake.calls_to("deleteWebhook")  # long polling, since no public URL is set
    finally:
        if serve.returncode is None:
            serve.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(serve.wait(), timeout=30)
        except TimeoutError:
            serve.kill()
            await serve.wait()
            raise
    output = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 0, output
    assert "peerline stopped" in output


async def test_webhook_answers_hostile_requests_with_4xx_and_stays_healthy(
    tg: App, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    await enrol(tg)
    tg.settings = tg.settings.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    runner = web.AppRunner(make_web_app(tg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    good = fake.message_update(ALEX, "rough day")
    bodies = [
        b"not json",
        b"null",
        b"[]",
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"update_id": "seven"}).encode(),
        json.dumps(
            {**good, "message": {**good["message"], "chat": {"id": "abc", "type": "private"}}}
        ).encode(),
        json.dumps({**good, "message": {**good["message"], "date": "yesterday"}}).encode(),
        b"\xff\xfe",
    ]
    try:
        async with aiohttp.ClientSession() as session:
            statuses = []
            for secret in ("\u00e9", "wrong", ""):
                async with session.post(
                    url, data=json.dumps(good), headers={"X-Telegram-Bot-Api-Secret-Token": secret}
                ) as response:
                    statuses.append(response.status)
            assert statuses == [401, 401, 401]
            statuses = []
            for body in bodies:
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers) as response:
                    statuses.append(response.status)
            assert statuses == [400] * len(bodies)
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
            assert await _inbound(tg) == []
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with session.post(url, json=good, headers=headers) as response:
                assert response.status == 200  # and a real update still goes through
        assert await _inbound(tg) == [f"tg:u:{good['update_id']}"]
    finally:
        await runner.cleanup()


async def test_webhook_acknowledges_an_update_without_an_event_it_handles(
    tg: App, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by tests/bot/test_webhook_fuzz.py: aiogram warned about such an update with all of it (text
    # included) on standard error; with warnings as errors that was a 500 and Telegram's retries.
    caplog.set_level(logging.INFO)
    tg.settings = tg.settings.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    runner = web.AppRunner(make_web_app(tg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:
        async with aiohttp.ClientSession() as session:
            for update in ({"update_id": 1}, {"update_id": 2, "future_kind": {"text": "PRIVATE words"}}):
                url = f"http://127.0.0.1:{port}/telegram/webhook"
                async with session.post(url, json=update, headers=headers) as response:
                    assert response.status == 200
    finally:
        await runner.cleanup()
    assert await _inbound(tg) == []
    assert "ignored Telegram update 2: no event this bot handles" in caplog.text
    assert "PRIVATE" not in caplog.text


@pytest.mark.parametrize(
    ("framing", "hang_up"),
    [
        (b'Content-Encoding: gzip\r\nContent-Length: 16\r\n\r\n{"update_id": 1}', False),  # not gzip
        (b'Content-Length: 100\r\n\r\n{"update_id": 1}', True),  # 84 bytes short
    ],
)
async def test_webhook_refuses_a_body_it_cannot_read_with_400(
    tg: App, caplog: pytest.LogCaptureFixture, framing: bytes, hang_up: bool
) -> None:
    # Found by tests/bot/test_webhook_fuzz.py: reading the body raised, a 500 with a traceback.
    tg.settings = tg.settings.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    runner = web.AppRunner(make_web_app(tg))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /telegram/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Telegram-Bot-Api-Secret-Token: " + SECRET.encode() + b"\r\n" + framing
        )
        await writer.drain()
        if hang_up:
            await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
            writer.write_eof()
        status = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
    finally:
        await runner.cleanup()
    assert status == (b"" if hang_up else b"HTTP/1.1 400 Bad Request\r\n"), status
    assert any("refused /telegram/webhook: unreadable body" in r.getMessage() for r in caplog.records)
    # (aiohttp still reports the undecodable rest of the body itself: `bot.logs` makes that one line)
    assert not [r for r in caplog.records if r.getMessage().startswith("Error handling request")]
