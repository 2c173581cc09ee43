"""Send-rate limits: a global rate per provider account and a minimum gap per recipient.

Telegram allows about 30 messages/s overall and 1/s per chat; Twilio long codes 1 message/s per
sending number (3 toll-free, 100 short code). The sender waits here before each send, so bursts are
smoothed instead of refused with 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateLimiter:
    """Spaces sends `1/per_second` apart globally and `per_address_gap` apart per address."""

    def __init__(
        self,
        per_second: float,
        per_address_gap: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._interval = 1.0 / per_second
        self._gap = per_address_gap
        self._clock = clock
        self._sleep = sleep
        self._next_global = 0.0
        self._next_address: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @property
    def per_second(self) -> float:
        return 1.0 / self._interval

    def cooling(self, tolerance: float = 0.05) -> dict[str, float]:
        """Addresses still inside their per-address gap, with the seconds left: a sender sends to
        other addresses meanwhile instead of waiting on one."""
        if not self._gap:
            return {}
        now = self._clock()
        return {a: t - now for a, t in self._next_address.items() if t - now > tolerance}

    def gap_left(self, address: str) -> float:
        """Seconds until `address` may get its next message (0 when it may now)."""
        return max(0.0, self._next_address.get(address, 0.0) - self._clock()) if self._gap else 0.0

    async def pause(self, seconds: float) -> None:
        """Wait on this limiter's clock (a test's virtual one included)."""
        await self._sleep(seconds)

    async def acquire(self, address: str) -> None:
        """Wait until a message to `address` may go out, and reserve that slot."""
        async with self._lock:
            now = self._clock()
            slot = max(now, self._next_global, self._next_address.get(address, 0.0))
            self._next_global = slot + self._interval
            if self._gap:
                self._next_address[address] = slot + self._gap
                if len(self._next_address) > 10_000:  # forget addresses whose gap has long passed
                    self._next_address = {a: t for a, t in self._next_address.items() if t > now}
        delay = slot - self._clock()
        if delay > 0:
            await self._sleep(delay)
