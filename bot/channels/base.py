"""The channel seam: transport-neutral messages and the `Channel` interface every adapter implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.ratelimit import RateLimiter


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
    kind: str = "text"


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
