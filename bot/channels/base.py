"""The channel contract: transport-neutral messages and the `Channel` every adapter implements.

A channel has opsdroid's connector shape: `start` (connect), `listen` (hand every inbound message to a
receiver, the pipeline), `send` (one outbound message, never raising for a provider's refusal: a `Failed`
of one `FailureKind` instead) and `close`. `tests/bot/channels/test_contract.py` runs one test class
over every channel; a new channel joins that class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.channels.ratelimit import RateLimiter


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    payload: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a person, as any channel delivers it."""

    channel: str
    address: str
    text: str
    received_at: datetime
    payload: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message to deliver; `message_id` is its contact-history row."""

    message_id: int
    channel: str
    address: str
    text: str
    buttons: Sequence[Sequence[Button]] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class Sent:
    provider_id: str | None


class FailureKind(StrEnum):
    """What a failed send means for the outbox: the one decision every adapter maps its errors to."""

    TRANSIENT = "transient"  # try again later (rate limit, outage, network, a fixable misconfiguration)
    REFUSED = "refused"  # this message never goes (too long, malformed); the address itself is fine
    UNREACHABLE = "unreachable"  # the chat or number is gone: blocked bot, invalid or landline number
    OPTED_OUT = "opted_out"  # the person stopped messages at the provider (Twilio 21610)

    @property
    def permanent(self) -> bool:
        """Never retried."""
        return self is not FailureKind.TRANSIENT

    @property
    def loses_contact(self) -> bool:
        """The identity is marked lost and the care team told."""
        return self in (FailureKind.UNREACHABLE, FailureKind.OPTED_OUT)


@dataclass(frozen=True, slots=True)
class Failed:
    """A refused or failed send; `kind` decides retrying, `code` is the provider's own (for the record)."""

    reason: str
    kind: FailureKind
    code: str | None = None
    retry_after: float | None = None

    @property
    def permanent(self) -> bool:
        return self.kind.permanent


SendResult = Sent | Failed

Receive = Callable[[Inbound], Awaitable[object]]


class Channel(ABC):
    """A messaging transport. Adapters translate; business rules live in the pipeline."""

    name: str
    has_buttons: bool = False
    limiter: RateLimiter | None = None
    _receive: Receive | None = None

    async def start(self) -> None:  # noqa: B027  (optional hook; a channel without a connection)
        """Connect before the first send or inbound message (open sessions, check credentials)."""

    def listen(self, receive: Receive) -> None:
        """Hand every inbound message to `receive` (the pipeline) from now on."""
        self._receive = receive

    @property
    def listening(self) -> bool:
        return self._receive is not None

    async def deliver(self, inbound: Inbound) -> object:
        """Hand one inbound message to the receiver `listen` was given."""
        if self._receive is None:
            raise RuntimeError(f"{type(self).__name__}.listen() was not called: nothing receives messages")
        return await self._receive(inbound)

    @abstractmethod
    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; never raises for provider errors, returns `Failed` instead."""

    async def close(self) -> None:  # noqa: B027  (optional hook; most channels hold nothing)
        """Release connections."""


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces a provider accepts, in order, cut at a paragraph, line or word where there is one.

    Each piece is at most `limit` UTF-16 code units (Telegram counts so; for Twilio's characters it is
    never more) and never blank; only whitespace at a cut is lost.
    """
    pieces: list[str] = []
    rest = text
    while _units(rest) > limit:
        end, used = 0, 0
        for char in rest:  # the longest prefix that fits
            size = 2 if ord(char) > 0xFFFF else 1
            if used + size > limit:
                break
            used += size
            end += 1
        end = max(end, 1)
        cut = end
        for separator in ("\n\n", "\n", " "):
            at = rest.rfind(separator, end // 2, end)
            if at > 0:
                cut = at
                break
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces
