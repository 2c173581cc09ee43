"""Trend and engagement rules wired to real history: spikes against the person's own baseline, misses."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bot.app import App
from bot.channels.base import Inbound
from bot.checkins.sessions import start_checkin
from bot.checkins.tick import tick
from bot.clock import ManualClock
from bot.people.enrolment import add_person, assign, resolve
from storage.models import Alert, Role


async def _program(app: App) -> None:
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.PEER, name="Sam", console="sam")
        await add_person(s, app.clock.now(), role=Role.PIR, name="Alex", console="alex")
        await assign(s, app.clock.now(), pir="Alex", peer="Sam")


async def _checkin(app: App, answers: list[str]) -> None:
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, app.content, alex, "daily_checkin", app.clock.now(), app.buttons)
    for number, text in enumerate(answers):
        await app.pipeline.handle(
            Inbound("console", "alex", text, app.clock.now(), provider_id=f"{app.clock.now()}:{number}")
        )


async def _alerts(app: App) -> list[tuple[str, list[str]]]:
    async with app.db.transaction() as s:
        return [
            (a.severity, a.categories) for a in (await s.scalars(select(Alert).order_by(col(Alert.id)))).all()
        ]


async def test_craving_spike_and_mood_drop_against_own_baseline(app: App, clock: ManualClock) -> None:
    await _program(app)
    for _ in range(4):  # a steady baseline: mood 4, craving 2
        await _checkin(app, ["4", "2", "no", "no", "skip"])
        clock.advance(timedelta(days=1))
    assert await _alerts(app) == []
    await _checkin(app, ["2", "6", "no", "no", "skip"])  # craving +4, mood -2: below the absolute ceilings
    alerts = await _alerts(app)
    assert alerts == [("medium", ["craving_spike", "mood_drop"])]


async def test_no_baseline_no_trend_alert(app: App, clock: ManualClock) -> None:
    await _program(app)
    await _checkin(app, ["2", "6", "no", "no", "skip"])
    assert await _alerts(app) == []


async def test_three_missed_checkins_in_a_row(app: App, clock: ManualClock) -> None:
    await _program(app)
    for day in range(3):
        await _checkin(app, [])
        clock.advance(timedelta(hours=13))
        await tick(app)
        assert len(await _alerts(app)) == (1 if day == 2 else 0)
        clock.advance(timedelta(hours=11))
    assert await _alerts(app) == [("medium", ["missed_checkins"])]
