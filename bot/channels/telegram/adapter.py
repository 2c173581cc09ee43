"""The Telegram channel (aiogram 3): updates in as `Inbound`, `OutboundMessage` out as Bot API calls.

The adapter only translates. An aiogram `Router` turns messages, commands and button presses into
`Inbound` for the pipeline; `send` turns an outbound message into `sendMessage` with an inline keyboard
and maps aiogram's exceptions to `Sent` / `Failed`, so the outbox sender decides about retries. Button
payloads travel as aiogram `CallbackData` so each kind of press has its own typed handler.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from bot.channels.base import (
    Button,
    Channel,
    Failed,
    FailureKind,
    Inbound,
    OutboundMessage,
    SendResult,
    Sent,
    split_text,
)
from bot.channels.ratelimit import RateLimiter
from bot.clock import Clock
from flows.payloads import ALERT

log = logging.getLogger(__name__)

CHANNEL = "telegram"
# Telegram allows about 30 messages/s per bot and 1 message/s per chat.
GLOBAL_PER_SECOND = 30.0
PER_CHAT_GAP_SECONDS = 1.0
MAX_CALLBACK_BYTES = 64
MAX_TEXT_UNITS = 4096  # sendMessage text, counted in UTF-16 code units
# A hung request must not hold up the delivery loop for aiogram's default minute.
REQUEST_TIMEOUT_SECONDS = 20.0
ANSWERED = "→"  # shown under a question after its button was pressed (no words, so no locale)


class FlowAnswer(CallbackData, prefix="a"):
    """A button answering a flow step; the pipeline's payload is `<step>:<value>`."""

    step: str
    value: str


class AlertAction(CallbackData, prefix=ALERT):
    """Acknowledge / resolve buttons on alerts to staff; the payload is `alert:<action>:<id>`."""

    action: str
    alert_id: int


def build_bot(token: str, api_url: str | None = None) -> Bot:
    """An aiogram Bot, pointed at another Bot API server (self-hosted, or a test fake) if given."""
    api = TelegramAPIServer.from_base(api_url) if api_url else PRODUCTION
    return Bot(token=token, session=AiohttpSession(api=api, timeout=REQUEST_TIMEOUT_SECONDS))


def callback_data(payload: str) -> str | None:
    """Telegram callback data for a button payload, or None when it cannot fit in 64 bytes."""
    packed: str | None = None
    kind, _, rest = payload.partition(":")
    action, _, alert_id = rest.partition(":")
    try:
        if kind == ALERT and alert_id.isdigit():
            packed = AlertAction(action=action, alert_id=int(alert_id)).pack()
        elif rest and ":" not in rest:
            packed = FlowAnswer(step=kind, value=rest).pack()
    except ValueError:  # CallbackData refuses data over 64 bytes
        packed = None
    if packed is None and 0 < len(payload.encode()) <= MAX_CALLBACK_BYTES:
        packed = payload  # unknown shape: passed through and handed back untouched
    return packed


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Inline keyboard rows for an outbound message; None when it has no buttons."""
    markup: list[list[InlineKeyboardButton]] = []
    for row in rows:
        buttons = []
        for button in row:
            data = callback_data(button.payload)
            if data is None:  # a content bug; the person can still type the answer
                log.error("button %r dropped: payload %r exceeds 64 bytes", button.label, button.payload)
                continue
            buttons.append(InlineKeyboardButton(text=button.label, callback_data=data))
        if buttons:
            markup.append(buttons)
    return InlineKeyboardMarkup(inline_keyboard=markup) if markup else None


def _chat_id(address: str) -> int | str:
    return int(address) if re.fullmatch(r"-?\d+", address) else address


def failure(exc: Exception) -> Failed:
    """What a failed Bot API call means for the outbox: wait, retry, or never again."""
    if isinstance(exc, TelegramRetryAfter):
        return Failed(exc.message, FailureKind.TRANSIENT, code="429", retry_after=float(exc.retry_after))
    if isinstance(exc, TelegramForbiddenError):  # blocked the bot, deactivated, never pressed Start
        return Failed(exc.message, FailureKind.UNREACHABLE, code="403")
    if isinstance(exc, TelegramMigrateToChat):
        return Failed(exc.message, FailureKind.UNREACHABLE, code="migrated")
    if isinstance(exc, TelegramBadRequest):
        gone = "chat not found" in exc.message.lower() or "user not found" in exc.message.lower()
        return Failed(exc.message, FailureKind.UNREACHABLE if gone else FailureKind.REFUSED, code="400")
    if isinstance(exc, TelegramNetworkError):
        return Failed(exc.message, FailureKind.TRANSIENT, code="network")
    if isinstance(exc, TelegramServerError):
        return Failed(exc.message, FailureKind.TRANSIENT, code="5xx")
    if isinstance(exc, TelegramAPIError):  # bad token, wrong API URL, conflict: fix and it goes out
        log.error("Telegram refused a send (%s): %s", type(exc).__name__, exc.message)
        return Failed(exc.message, FailureKind.TRANSIENT, code=type(exc).__name__)
    return Failed(f"{type(exc).__name__}: {exc}", FailureKind.TRANSIENT, code="client")


class TelegramChannel(Channel):
    """Sends through one aiogram `Bot`; receives through a `Dispatcher` fed by polling or the webhook."""

    name = CHANNEL
    has_buttons = True

    def __init__(self, bot: Bot, clock: Clock, *, limiter: RateLimiter | None = None) -> None:
        self.bot = bot
        self.limiter = limiter or RateLimiter(GLOBAL_PER_SECOND, PER_CHAT_GAP_SECONDS)
        self._clock = clock
        self.dispatcher = Dispatcher(name="peerline")
        self.dispatcher.include_router(self._router())

    # -- outbound ---------------------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message; a text over Telegram's limit goes as several, the buttons on the last.

        The provider id is the last piece's (the one whose keyboard a button press edits). The outbox
        sender took the rate limit for the first piece; each further piece takes its own. If a later
        piece fails, the whole message is retried: a repeated part beats a lost one.
        """
        pieces = split_text(message.text, MAX_TEXT_UNITS)
        try:
            for number, piece in enumerate(pieces, start=1):
                last = number == len(pieces)
                if number > 1 and self.limiter is not None:
                    await self.limiter.acquire(message.address)
                sent = await self.bot.send_message(
                    chat_id=_chat_id(message.address),
                    text=piece,
                    reply_markup=keyboard(message.buttons) if last else None,
                )
        except AiogramError as exc:
            return failure(exc)
        return Sent(provider_id=f"tg:m:{sent.chat.id}:{sent.message_id}")

    async def close(self) -> None:
        await self.bot.session.close()

    # -- inbound ----------------------------------------------------------------------------------

    def _router(self) -> Router:
        router = Router(name="peerline-telegram")
        router.callback_query.register(self._on_alert_button, AlertAction.filter())
        router.callback_query.register(self._on_answer_button, FlowAnswer.filter())
        router.callback_query.register(self._on_other_button)
        router.message.register(self._on_command, Command(re.compile(r"[a-z0-9_]+", re.IGNORECASE)))
        router.message.register(self._on_message)
        return router

    async def _deliver(self, chat_id: int, text: str, payload: str | None, update: Update) -> None:
        await self.deliver(
            Inbound(
                channel=CHANNEL,
                address=str(chat_id),
                text=text,
                received_at=self._clock.now(),
                payload=payload,
                provider_id=f"tg:u:{update.update_id}",
            )
        )

    async def _on_command(self, message: Message, command: CommandObject, event_update: Update) -> None:
        # "/stop@PeerlineBot" and "/start CODE" reach the pipeline as "/stop" and "/start CODE".
        text = f"/{command.command.lower()}" + (f" {command.args.strip()}" if command.args else "")
        await self._deliver(message.chat.id, text, None, event_update)

    async def _on_message(self, message: Message, event_update: Update) -> None:
        # A photo or voice note still reaches the peer as a sign the person wrote.
        text = message.text or message.caption or f"[{message.content_type}]"
        await self._deliver(message.chat.id, text, None, event_update)

    async def _on_answer_button(
        self, query: CallbackQuery, callback_data: FlowAnswer, event_update: Update
    ) -> None:
        await self._pressed(query, f"{callback_data.step}:{callback_data.value}", event_update)

    async def _on_alert_button(
        self, query: CallbackQuery, callback_data: AlertAction, event_update: Update
    ) -> None:
        # After Acknowledge the peer still needs Resolve: keep the other buttons on the alert.
        await self._pressed(
            query, callback_data.pack(), event_update, keep_others=callback_data.action == "ack"
        )

    async def _on_other_button(self, query: CallbackQuery, event_update: Update) -> None:
        await self._pressed(query, query.data or "", event_update)

    async def _pressed(
        self, query: CallbackQuery, payload: str, update: Update, *, keep_others: bool = False
    ) -> None:
        question = query.message if isinstance(query.message, Message) else None
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        label = _label_of(question, query.data) or payload
        await self._deliver(chat_id, label, payload, update)
        await self._settle(query, question, label, keep_others=keep_others)

    async def _settle(
        self, query: CallbackQuery, question: Message | None, label: str, *, keep_others: bool = False
    ) -> None:
        """Stop the button's spinner and turn the question into a record of the answer (pure UX)."""
        try:
            await query.answer()
        except TelegramAPIError as exc:  # too old to answer; the press itself was handled
            log.info("could not answer callback query %s: %s", query.id, exc.message)
        if question is None or question.reply_markup is None:
            return
        remaining = None
        if keep_others:
            rows = [
                [b for b in row if b.callback_data != query.data]
                for row in question.reply_markup.inline_keyboard
            ]
            remaining = InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])
        try:
            if question.text:
                await self.bot.edit_message_text(
                    chat_id=question.chat.id,
                    message_id=question.message_id,
                    text=f"{question.text}\n\n{ANSWERED} {label}",
                    reply_markup=remaining if remaining is not None and remaining.inline_keyboard else None,
                )
            else:
                await self.bot.edit_message_reply_markup(
                    chat_id=question.chat.id, message_id=question.message_id
                )
        except TelegramAPIError as exc:
            log.info("could not edit answered message %s: %s", question.message_id, exc.message)


def _label_of(question: Message | None, data: str | None) -> str | None:
    """The text of the pressed button, read from the keyboard the update carries."""
    if question is None or question.reply_markup is None:
        return None
    for row in question.reply_markup.inline_keyboard:
        for button in row:
            if button.callback_data == data:
                return button.text
    return None
