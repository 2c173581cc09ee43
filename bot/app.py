"""Composition root: settings in, a wired application out. The only place clients are built."""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.channels.base import Channel
from bot.clock import Clock, SystemClock
from config.settings import Settings
from storage.db import Database

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.content import Content
    from bot.inbound.pipeline import Pipeline
    from bot.outbox.sender import OutboxSender
    from storage.models import ChannelIdentity


def freeze_startup_heap() -> None:
    """Put everything built at start-up out of the garbage collector's reach (CPython's `gc.freeze`).

    A serving process holds some 300,000 objects from start-up alone (libraries, settings, compiled
    lexicons and flows) that live as long as it does. Each full collection walked all of them: a pause
    of 100-200 ms, at random, in whatever was in flight, an alert page included. Frozen, a full collection
    walks only what the running service allocated since.
    """
    gc.collect()
    gc.freeze()


@dataclass
class App:
    """The wired application. Content, sender and pipeline are built when first used, so a CLI command
    that only reads the database loads none of them (`build` builds them at once unless `lazy`)."""

    settings: Settings
    db: Database
    clock: Clock
    channels: dict[str, Channel] = field(default_factory=dict)
    lazy: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.lazy:  # a mistake in the content stops start-up, and all of it is in the frozen heap
            self.content.triage  # noqa: B018
            self.pipeline  # noqa: B018
            self.sender  # noqa: B018

    @functools.cached_property
    def content(self) -> Content:
        from bot.checkins.schedule_changes import check_offered_times  # noqa: PLC0415
        from bot.content import Content  # noqa: PLC0415

        content = Content.load(self.settings.config_dir, program=self.settings.sender_name, lazy=self.lazy)
        check_offered_times(content, self.settings.quiet_window, self.settings.config_dir / "flows")
        return content

    @functools.cached_property
    def sender(self) -> OutboxSender:
        from bot.outbox.sender import OutboxSender  # noqa: PLC0415
        from bot.people.lost_contact import tell_team  # noqa: PLC0415

        messages = self.content.messages

        async def on_lost(s: AsyncSession, ident: ChannelIdentity, now: datetime, opted_out: bool) -> int:
            return await tell_team(s, messages, ident, now, opted_out=opted_out)

        return OutboxSender(self.db, self.channels, self.clock, on_lost=on_lost)

    @functools.cached_property
    def pipeline(self) -> Pipeline:
        from bot.inbound.pipeline import Pipeline  # noqa: PLC0415

        return Pipeline(
            self.db,
            self.content,
            self.clock,
            buttons=self.buttons,
            program_name=self.settings.sender_name,
            support_contact=self.settings.support_contact,
            on_commit=lambda urgent: self.sender.wake(urgent=urgent),
        )

    @property
    def staff_menu(self) -> tuple[str, ...]:
        """The staff commands a chat menu lists (Telegram's), from the command grammar."""
        from bot.staff.grammar import MENU  # noqa: PLC0415  (commands that read nothing skip it)

        return tuple(verb.value for verb in MENU)

    @property
    def buttons(self) -> Mapping[str, bool]:
        """Which channels can show buttons; looked up live so channels added later count."""
        return _ButtonView(self.channels)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        channels: Mapping[str, Channel] | None = None,
        lazy: bool = False,
    ) -> App:
        """Wire an app; without explicit `channels`, each provider with credentials in `settings` is built.

        `lazy` (one CLI command) loads the content, and compiles the triage, when first used.
        """
        clock = clock or SystemClock()
        return cls(
            settings=settings,
            db=Database(
                settings.database_url,
                encryption_key=(
                    settings.encryption_key.get_secret_value()
                    if settings.encryption_key is not None
                    else None
                ),
            ),
            clock=clock,
            channels=dict(channels) if channels is not None else _configured_channels(settings, clock),
            lazy=lazy,
        )

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        await self.db.dispose()


def _configured_channels(settings: Settings, clock: Clock) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    if settings.telegram_token is not None:
        # aiogram takes seconds to import: only commands that may talk to Telegram pay for it.
        from bot.channels.telegram.adapter import TelegramChannel, build_bot  # noqa: PLC0415

        bot = build_bot(settings.telegram_token.get_secret_value(), settings.telegram_api_url)
        channels[TelegramChannel.name] = TelegramChannel(bot, clock)
    return channels


class _ButtonView(Mapping[str, bool]):
    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self._channels = channels

    def __getitem__(self, key: str) -> bool:
        return self._channels[key].has_buttons

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def __len__(self) -> int:
        return len(self._channels)
