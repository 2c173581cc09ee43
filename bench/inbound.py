"""Inbound throughput: N PIRs answer a three-question check-in through the durable pipeline.

Baseline, in the same run: a bare aiogram 3 `Dispatcher` with the in-memory FSM doing the same
three-question check-in over pre-built updates, with no I/O at all (handlers return the reply method
instead of calling Telegram). Peerline's figure includes the SQLite transaction that makes every answer
durable, and the outbox sender delivering every reply to the console channel.

    uv run python -m bench.inbound [--pirs 500] [--concurrency 64] [--database-url URL] [--encrypted]

`--encrypted` runs Peerline with PEERLINE_ENCRYPTION_KEY set (names, numbers and what people write
encrypted at rest), to show what encryption costs against the same baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import SendMessage
from aiogram.types import Chat, Message, Update, User

from bench.pgdb import fresh_database
from bot.app import App
from bot.channels.base import Inbound
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import add_person
from config.settings import DEFAULT_CONFIG_DIR, Settings
from storage.crypto import new_key
from storage.models import Role

BENCH_FLOW = """
id: bench_checkin
audience: pir
version: 1
max_reasks: 2
reminder_after: 2h
expires_after: 12h
intro: {en: "Check-in time.", es: "Hora del check-in."}
outro: {en: "Thanks!", es: "¡Gracias!"}
reminder: {en: "Reminder.", es: "Recordatorio."}
expired: {en: "Missed.", es: "Perdido."}
steps:
  - id: mood
    type: scale
    min: 1
    max: 5
    prompt: {en: "Mood 1-5?", es: "¿Ánimo 1-5?"}
    hint: {en: "A number 1-5.", es: "Un número 1-5."}
  - id: craving
    type: scale
    min: 0
    max: 10
    prompt: {en: "Craving 0-10?", es: "¿Ganas 0-10?"}
    hint: {en: "A number 0-10.", es: "Un número 0-10."}
    rules: [{when: ">=8", severity: high, category: craving}]
  - id: used
    type: yesno
    prompt: {en: "Any use?", es: "¿Consumo?"}
    hint: {en: "Yes or no.", es: "Sí o no."}
    rules: [{when: "yes", severity: high, category: use}]
"""

ANSWERS = ("4", "3", "no")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_rounds(
    pirs: int, concurrency: int, handle: Callable[[int, int], Awaitable[Any]]
) -> tuple[float, list[float]]:
    """Every PIR answers question r before anyone answers r+1; returns (seconds, latencies)."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(pir: int, question: int) -> None:
        async with gate:
            began = time.perf_counter()
            await handle(pir, question)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    for question in range(len(ANSWERS)):
        await asyncio.gather(*(one(pir, question) for pir in range(pirs)))
    return time.perf_counter() - began, latencies


# -- baseline: aiogram, in memory -----------------------------------------------------------------


class Checkin(StatesGroup):
    mood = State()
    craving = State()
    used = State()


def baseline_router() -> Router:
    router = Router()

    @router.message(Checkin.mood, F.text)
    async def mood(message: Message, state: FSMContext) -> SendMessage:
        if not (message.text or "").isdigit():
            return message.answer("A number 1-5.")
        await state.update_data(mood=int(message.text or 0))
        await state.set_state(Checkin.craving)
        return message.answer("Craving 0-10?")

    @router.message(Checkin.craving, F.text)
    async def craving(message: Message, state: FSMContext) -> SendMessage:
        if not (message.text or "").isdigit():
            return message.answer("A number 0-10.")
        await state.update_data(craving=int(message.text or 0))
        await state.set_state(Checkin.used)
        return message.answer("Any use?")

    @router.message(Checkin.used, F.text)
    async def used(message: Message, state: FSMContext) -> SendMessage:
        await state.update_data(used=(message.text or "").lower().startswith("y"))
        await state.clear()
        return message.answer("Thanks!")

    return router


async def run_baseline(pirs: int, concurrency: int) -> tuple[float, list[float]]:
    bot = Bot(token="42:BENCHMARK")  # never used for a request: handlers return methods
    storage = MemoryStorage()
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(baseline_router())
    for pir in range(pirs):
        await storage.set_state(StorageKey(bot_id=42, chat_id=pir + 1, user_id=pir + 1), Checkin.mood)
    now = datetime.now(UTC)
    updates = [
        [
            Update(
                update_id=question * pirs + pir,
                message=Message(
                    message_id=question + 1,
                    date=now,
                    chat=Chat(id=pir + 1, type="private"),
                    from_user=User(id=pir + 1, is_bot=False, first_name="P"),
                    text=ANSWERS[question],
                ),
            )
            for question in range(len(ANSWERS))
        ]
        for pir in range(pirs)
    ]

    async def handle(pir: int, question: int) -> None:
        result = await dispatcher.feed_update(bot, updates[pir][question])
        assert isinstance(result, SendMessage)

    try:
        return await timed_rounds(pirs, concurrency, handle)
    finally:
        await bot.session.close()


# -- Peerline: durable pipeline -------------------------------------------------------------------


async def run_peerline(
    pirs: int,
    concurrency: int,
    database_url: str | None,
    before_timing: Callable[[], object] = lambda: None,
    run: int = 1,
    encryption_key: str | None = None,
) -> tuple[float, list[float], float]:
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-"))
    config_dir = workdir / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (config_dir / "flows" / "bench_checkin.yaml").write_text(BENCH_FLOW, encoding="utf-8")
    url = database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    console = ConsoleChannel()
    settings = Settings(database_url=url, config_dir=config_dir, encryption_key=encryption_key)
    app = App.build(settings, channels={"console": console})
    try:
        await app.db.upgrade()
        now = app.clock.now()
        async with app.db.transaction() as s:
            for pir in range(pirs):
                name = f"run{run}-pir{pir}"  # runs may share a --database-url
                person = await add_person(s, now, role=Role.PIR, name=name, console=name)
                await start_checkin(s, app.content, person, "bench_checkin", now, app.buttons)
        await app.sender.drain()
        console.sent.clear()
        stop = asyncio.Event()
        sender = asyncio.create_task(app.sender.run(stop, idle_seconds=0.05))

        async def handle(pir: int, question: int) -> None:
            await app.pipeline.handle(
                Inbound(
                    channel="console",
                    address=f"run{run}-pir{pir}",
                    text=ANSWERS[question],
                    received_at=datetime.now(UTC),
                    provider_id=f"bench:{run}:{pir}:{question}",
                )
            )

        before_timing()
        began = time.perf_counter()
        seconds, latencies = await timed_rounds(pirs, concurrency, handle)
        expected = pirs * len(ANSWERS)
        while sum(len(v) for v in console.sent.values()) < expected:
            await asyncio.sleep(0.01)
        delivered = time.perf_counter() - began
        stop.set()
        await sender
        return seconds, latencies, delivered
    finally:
        await app.close()
        shutil.rmtree(workdir, ignore_errors=True)


def report(name: str, messages: int, seconds: float, latencies: list[float]) -> float:
    rate = messages / seconds
    print(
        f"{name:<37} {messages:>7} msgs {seconds:8.2f} s {rate:10.0f} msg/s   "
        f"p50 {statistics.median(latencies) * 1000:7.2f} ms   "
        f"p99 {percentile(latencies, 0.99) * 1000:7.2f} ms"
    )
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pirs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; medians compared")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--encrypted", action="store_true", help="with PEERLINE_ENCRYPTION_KEY set")
    args = parser.parse_args()
    key = new_key() if args.encrypted else None
    messages = args.pirs * len(ANSWERS)
    print(f"{args.pirs} PIRs x {len(ANSWERS)} answers, {args.concurrency} in flight, {args.repeat} runs each")
    base_rates: list[float] = []
    ours_rates: list[float] = []
    base_all: list[float] = []
    ours_all: list[float] = []
    for run in range(1, args.repeat + 1):
        # Each timed run starts from a collected heap, so a full garbage collection left over from
        # setting up falls on neither side.
        gc.collect()
        base_s, base_lat = await run_baseline(args.pirs, args.concurrency)
        base_rates.append(report(f"{run}: baseline, aiogram in-memory FSM", messages, base_s, base_lat))
        base_all += base_lat
        async with fresh_database(args.database_url) as url:
            ours_s, ours_lat, delivered = await run_peerline(
                args.pirs,
                args.concurrency,
                url,
                before_timing=gc.collect,
                run=run,
                encryption_key=key,
            )
        label = "peerline, durable, encrypted" if key else "peerline, durable pipeline"
        ours_rates.append(report(f"{run}: {label}", messages, ours_s, ours_lat))
        ours_all += ours_lat
        print(f"   peerline: all {messages} replies delivered {delivered:.2f} s after the first answer")
    base_rate, ours_rate = statistics.median(base_rates), statistics.median(ours_rates)
    print(
        f"median baseline {base_rate:,.0f} msg/s (p50 {statistics.median(base_all) * 1000:.1f} ms, "
        f"p99 {percentile(base_all, 0.99) * 1000:.1f} ms over all runs)"
    )
    print(
        f"median peerline {ours_rate:,.0f} msg/s (p50 {statistics.median(ours_all) * 1000:.1f} ms, "
        f"p99 {percentile(ours_all, 0.99) * 1000:.1f} ms over all runs)"
    )
    print(f"ratio peerline / baseline: {ours_rate / base_rate:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
