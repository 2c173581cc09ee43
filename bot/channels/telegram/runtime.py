"""The Telegram channel inside `peerline serve`: webhook or long polling, and the command menus.

Webhook mode (`PEERLINE_PUBLIC_URL` set) registers `POST /telegram/webhook`, which only accepts requests
carrying `PEERLINE_TELEGRAM_WEBHOOK_SECRET` and answers 200 only after the update went through the
pipeline, so Telegram re-sends anything a crash interrupted (the pipeline drops the repeat by update id).
Long polling otherwise: one update at a time, each fully handled before the next `getUpdates` confirms it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Update
from aiogram.types.update import UpdateTypeLookupError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from sqlmodel import col, select

from bot.channels.telegram.adapter import CHANNEL, TelegramChannel
from bot.errors import UserError
from config.settings import Settings, SettingsError
from storage.models import ChannelIdentity, Person, Role

if TYPE_CHECKING:
    from bot.app import App  # handed in by the server; a channel never imports the composition root

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_EVERYONE = ("start", "stop", "help")
_LOCALES = ("en", "es")


class Mode(StrEnum):
    WEBHOOK = "webhook"
    POLLING = "polling"


def telegram_mode(settings: Settings) -> Mode | None:
    """How Telegram updates arrive, or None without a token; refuses a webhook nobody could trust."""
    if settings.telegram_token is None:
        return None
    if not settings.public_url:
        return Mode.POLLING
    secret = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    if not secret:
        raise SettingsError(
            "PEERLINE_PUBLIC_URL is set, so Telegram would deliver updates to a webhook, but "
            "PEERLINE_TELEGRAM_WEBHOOK_SECRET is not set: without it anyone could post fake updates. "
            "Set PEERLINE_TELEGRAM_WEBHOOK_SECRET (1-256 characters: letters, digits, _ and -), "
            "or unset PEERLINE_PUBLIC_URL to use long polling."
        )
    if not _SECRET.fullmatch(secret):
        raise SettingsError(
            "PEERLINE_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of letters, digits, _ and - "
            "(Telegram's rule for secret_token)"
        )
    return Mode.WEBHOOK


def telegram_of(app: App) -> TelegramChannel | None:
    channel = app.channels.get(CHANNEL)
    return channel if isinstance(channel, TelegramChannel) else None


async def bot_username(app: App) -> str:
    """The bot's @username, from getMe (for invite links)."""
    channel = telegram_of(app)
    if channel is None:
        raise UserError("Telegram is not configured: set PEERLINE_TELEGRAM_TOKEN, or pass --bot-username")
    try:
        me = await channel.bot.me()
    except AiogramError as exc:
        raise UserError(
            f"could not ask Telegram for the bot's username ({exc}); pass --bot-username"
        ) from None
    if not me.username:
        raise UserError("Telegram returned no username for this bot; pass --bot-username")
    return me.username


def add_webhook_route(web_app: web.Application, app: App) -> None:
    """`POST /telegram/webhook`, only when a secret is configured (otherwise the route does not exist)."""
    channel = telegram_of(app)
    secret = app.settings.telegram_webhook_secret
    if channel is None or secret is None or not secret.get_secret_value():
        return
    channel.listen(app.pipeline.handle)
    handler = _CheckedHandler(
        channel.dispatcher,
        channel.bot,
        handle_in_background=False,  # answer 200 only once the update is stored and handled
        secret_token=secret.get_secret_value(),
    )
    # Not `handler.register`: that would close the shared bot session when the web app stops.
    web_app.router.add_post(WEBHOOK_PATH, handler.handle)


class _CheckedHandler(SimpleRequestHandler):
    """aiogram's webhook handler, made safe for whatever arrives: the secret is compared as bytes (a
    header that is not ASCII is a wrong secret, not a crash), and a body that is not a Telegram update
    (not JSON, `null`, a list, nested past reason, wrong types) is a 400 with the reason in the log. An
    update without any event aiogram knows is answered 200 and left alone: aiogram would warn about it
    with the whole update, text and all, on standard error (and Telegram would send it again on a 4xx)."""

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        wanted = (self.secret_token or "").encode()
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        if hmac.compare_digest(given, wanted):
            return True
        log.warning("refused %s: missing or wrong secret token", WEBHOOK_PATH)
        return False

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except (ConnectionResetError, web.RequestPayloadError) as exc:  # cut short, bad chunking, gzip
            reason = " ".join(str(exc).split())[:200]
            log.warning("refused %s: unreadable body (%s)", WEBHOOK_PATH, reason)
            return web.Response(status=400, text="unreadable body")
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError(f"an update is a JSON object, not {type(data).__name__}")
            update = Update.model_validate(data, context={"bot": bot})
        except (ValueError, RecursionError) as exc:  # JSON, pydantic's ValidationError, depth
            reason = " ".join(str(exc).split())[:200]
            log.warning("refused %s: not a Telegram update (%s)", WEBHOOK_PATH, reason)
            return web.Response(status=400, text="not a Telegram update")
        try:
            update.event_type  # noqa: B018  (the lookup is the check)
        except UpdateTypeLookupError:
            log.info("ignored Telegram update %s: no event this bot handles", update.update_id)
            return web.Response(body=self._build_response_writer(bot=bot, result=None))
        result: TelegramMethod[Any] | None = await self.dispatcher.feed_webhook_update(
            bot, update, **self.data
        )
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def start_telegram(app: App, mode: Mode | None) -> TelegramRunner | None:
    """Start receiving Telegram updates in `mode`; None when Telegram is not configured."""
    channel = telegram_of(app)
    if channel is None or mode is None:
        return None
    runner = TelegramRunner(app, channel, mode)
    runner.start()
    return runner


class TelegramRunner:
    """Starts and stops update delivery; retries start-up while the Bot API is unreachable."""

    def __init__(
        self,
        app: App,
        channel: TelegramChannel,
        mode: Mode,
        *,
        polling_timeout: int = 25,
        retry_seconds: float = 5.0,
    ) -> None:
        self._app = app
        self._channel = channel
        self._mode = mode
        self._polling_timeout = polling_timeout
        self._retry_seconds = retry_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._channel.listen(self._app.pipeline.handle)
        self._task = asyncio.create_task(self._run(), name="telegram")

    async def stop(self) -> None:
        if self._task is None:
            return
        if self._mode is Mode.POLLING:
            with contextlib.suppress(RuntimeError):  # polling had not started yet
                await self._channel.dispatcher.stop_polling()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        delay = self._retry_seconds
        while True:
            try:
                await self._prepare()
                if self._mode is Mode.POLLING:
                    await self._channel.dispatcher.start_polling(
                        self._channel.bot,
                        polling_timeout=self._polling_timeout,
                        handle_as_tasks=False,  # each update handled before the next poll confirms it
                        handle_signals=False,  # `serve` owns SIGTERM
                        close_bot_session=False,  # the outbox keeps sending through this bot
                    )
                return
            except Exception:
                log.exception("Telegram start-up failed; trying again in %.0fs", delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)

    async def _prepare(self) -> None:
        bot, settings = self._channel.bot, self._app.settings
        updates = self._channel.dispatcher.resolve_used_update_types()
        if self._mode is Mode.WEBHOOK:
            assert settings.public_url is not None and settings.telegram_webhook_secret is not None
            url = settings.public_url.rstrip("/") + WEBHOOK_PATH
            await bot.set_webhook(
                url,
                allowed_updates=updates,
                secret_token=settings.telegram_webhook_secret.get_secret_value(),
            )
            log.info("Telegram webhook set to %s", url)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("Telegram long polling")
        await register_commands(self._app, self._channel)


def _commands(app: App, names: Sequence[str], locale: str) -> list[BotCommand]:
    messages = app.content.messages
    return [BotCommand(command=n, description=messages.text(f"command_{n}", locale)) for n in names]


async def register_commands(app: App, channel: TelegramChannel) -> None:
    """The command menu: STOP/START/HELP for everyone, alert commands in each staff member's chat."""
    bot = channel.bot
    for locale in _LOCALES:
        await bot.set_my_commands(
            _commands(app, _EVERYONE, locale),
            scope=BotCommandScopeDefault(),
            language_code=None if locale == "en" else locale,
        )
    async with app.db.transaction() as s:
        staff = (
            await s.execute(
                select(ChannelIdentity.address, Person.locale)
                .join(Person, col(Person.id) == col(ChannelIdentity.person_id))
                .where(
                    col(ChannelIdentity.channel) == CHANNEL,
                    col(Person.role).in_([Role.PEER, Role.SUPERVISOR]),
                    col(ChannelIdentity.unreachable_at).is_(None),
                )
            )
        ).all()
    for address, locale in staff:
        chat_id: int | str = int(address) if address.lstrip("-").isdigit() else address
        try:
            # The staff menu comes from the command grammar (`App.staff_menu`): a new command is listed.
            await bot.set_my_commands(
                _commands(app, app.staff_menu, locale), scope=BotCommandScopeChat(chat_id=chat_id)
            )
        except (TelegramBadRequest, TelegramForbiddenError) as exc:  # one odd chat must not stop start-up
            # The chat id is a person's identity (42 CFR Part 2): never in the log.
            log.warning("no command menu for one staff Telegram chat: %s", exc.message)
