"""The channel seam: transport-neutral messages and the `Channel` interface every adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True, slots=True)
class Failed:
    """A refused or failed send. `permanent` failures are never retried."""

    reason: str
    permanent: bool
    code: str | None = None
    retry_after: float | None = None
    unreachable: bool = False
    opted_out: bool = False


SendResult = Sent | Failed


class Channel(ABC):
    """A messaging transport. Adapters translate; business rules live in the pipeline."""

    name: str
    has_buttons: bool = False
    limiter: RateLimiter | None = None

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
