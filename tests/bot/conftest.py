"""Fixtures for the bot tests that need the escalation program of `tests.bot.careteam`."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.clock import ManualClock
from tests.bot.careteam import Driver, seed
from tests.conftest import START


@pytest.fixture
async def drive(app: App, clock: ManualClock, console: ConsoleChannel) -> Driver:
    """The care-team program seeded, with a driver for its people."""
    await seed(app)
    return Driver(app, clock, console, START)
