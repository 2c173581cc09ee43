"""The console channel: a terminal (demo) or an in-memory mailbox (tests, benchmarks).

Modelled on errbot's test backend: `sent` keeps what was delivered to each address and `take` pops it;
inbound lines are handed to the pipeline by whoever drives the console (the demo, a test).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable

from bot.channels.base import Channel, OutboundMessage, SendResult, Sent


class ConsoleChannel(Channel):
    """Delivers by calling `show(address, text, buttons)`; keeps a copy of everything per address."""

    name = "console"
    has_buttons = True

    def __init__(self, show: Callable[[OutboundMessage], None] | None = None) -> None:
        self._show = show
        self._ids = itertools.count(1)
        self.sent: dict[str, list[OutboundMessage]] = defaultdict(list)

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent[message.address].append(message)
        if self._show is not None:
            self._show(message)
        return Sent(provider_id=f"console:out:{next(self._ids)}")

    def take(self, address: str) -> list[OutboundMessage]:
        """Pop everything delivered to `address` so far."""
        return self.sent.pop(address, [])
