"""The console channel: a terminal (demo) or an in-memory mailbox (tests, benchmarks).

Modelled on errbot's test backend: `sent` keeps what was delivered to each address and `take` pops it;
`write` hands a line from a person to whatever `listen` was given (the pipeline), as a webhook would;
`fail_next` makes the next sends fail with a `FailureKind`, as a provider would refuse them.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Callable

from bot.channels.base import Channel, Failed, FailureKind, Inbound, OutboundMessage, SendResult, Sent
from bot.clock import Clock, SystemClock


class ConsoleChannel(Channel):
    """Delivers by calling `show(message)`; keeps a copy of everything per address."""

    name = "console"
    has_buttons = True

    def __init__(
        self, show: Callable[[OutboundMessage], None] | None = None, *, clock: Clock | None = None
    ) -> None:
        self._show = show
        self._clock = clock or SystemClock()
        self._ids = itertools.count(1)
        self._inbound_ids = itertools.count(1)
        self._failures: deque[FailureKind] = deque()
        self.sent: dict[str, list[OutboundMessage]] = defaultdict(list)

    async def send(self, message: OutboundMessage) -> SendResult:
        if self._failures:
            kind = self._failures.popleft()
            return Failed(f"console refused: {kind}", kind, code=f"console:{kind}")
        self.sent[message.address].append(message)
        if self._show is not None:
            self._show(message)
        return Sent(provider_id=f"console:out:{next(self._ids)}")

    def take(self, address: str) -> list[OutboundMessage]:
        """Pop everything delivered to `address` so far."""
        return self.sent.pop(address, [])

    async def write(self, address: str, text: str, payload: str | None = None) -> object:
        """A person at `address` typed `text` (or pressed the button carrying `payload`)."""
        return await self.deliver(
            Inbound(
                channel=self.name,
                address=address,
                text=text,
                received_at=self._clock.now(),
                payload=payload,
                provider_id=f"console:in:{next(self._inbound_ids)}",
            )
        )

    def fail_next(self, kind: FailureKind, times: int = 1) -> None:
        """The next `times` sends fail with `kind` (nothing is delivered)."""
        self._failures.extend([kind] * times)
