"""Memory of `peerline serve` by enrolment size (issue 18): nothing per person may be held in memory.

For each size, and for a baseline of 0 enrolled measured in the same run, a fresh SQLite file is seeded in
bulk (`bench.enrolment`: people, console identities, daily schedules, care teams) and a real
`peerline serve` subprocess started on it (no providers: the console identities' messages wait in the
outbox). Once `/readyz` answers and the process is idle, DUE check-ins are made due now and the scheduler
(ticking every TICK s) starts them. RSS is read from `/metrics` (`peerline_process_resident_memory_bytes`)
every 0.2 s: after start (idle, nothing due), after the work (the due check-ins started and a few more
ticks over every schedule), and the peak over the whole run. The baseline has nobody to check in, so its
"after work" is idle: a size's Δ work is what starting the check-ins costs; sizes compared with each other
show whether enrolment costs memory.

With `--inbound N`, `serve` also runs in Telegram webhook mode against the fake Bot API of the tests
(`tests/bot/channels/fake_telegram.py`), and N strangers each write one message to the webhook after the
check-ins started (the process then holds aiogram too, at every size alike).

    uv run python -m bench.memory [--sizes 10000,100000,1000000] [--quick] [--inbound 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from sqlalchemy import update
from sqlmodel import col

from bench.enrolment import ZONE, enrol
from bot.app import App
from config.settings import Settings
from storage.models import CheckinSchedule
from tests.bot.channels.fake_telegram import FakeTelegram
from tests.fakes.serve_process import ServeProcess, free_port

DUE = 1000
PIRS_PER_PEER = 50
TICK = 0.5  # PEERLINE_TICK_SECONDS
EXTRA_TICKS = 6  # ticks after the due check-ins were all started, before "after work"
SAMPLE = 0.2
RSS = "peerline_process_resident_memory_bytes"
TOKEN = "123456:BENCH-token"  # noqa: S105  (the fake Bot API's, not a secret)
SECRET = "bench-memory_secret"  # noqa: S105  (the fake webhook's)
STRANGERS = 900_000  # chat ids of the inbound writers, none enrolled


def database_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _app(path: Path) -> App:
    return App.build(Settings(database_url=database_url(path)), channels={}, lazy=True)


async def seed(path: Path, people: int, now: datetime) -> float:
    """`people` enrolled, none due (all a day after `now`); how long it took, in seconds."""
    app = _app(path)
    began = time.perf_counter()
    try:
        await app.db.upgrade()
        await enrol(app.db, people, 0, now, pirs_per_peer=PIRS_PER_PEER)
    finally:
        await app.close()
    return time.perf_counter() - began


async def make_due(path: Path, due: int, now: datetime) -> None:
    """The first `due` PIRs' check-ins become due now: their daily time moved to this minute (written
    beside the running process), so the tick starts them instead of recording them as missed."""
    minute = now.replace(second=0, microsecond=0)
    local = minute.astimezone(ZoneInfo(ZONE)).strftime("%H:%M")
    app = _app(path)
    try:
        async with app.db.transaction() as s:
            await s.execute(
                update(CheckinSchedule)
                .where(col(CheckinSchedule.person_id) <= due)
                .values(local_time=local, next_due_at=minute)
            )
    finally:
        await app.close()


def parse(text: str) -> dict[str, float]:
    """The samples of a Prometheus text page, by name with labels as written (`a{kind="x"}`)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


@dataclass
class Sampler:
    """Scrapes `/metrics` every SAMPLE s; keeps the last page and the highest RSS seen."""

    session: aiohttp.ClientSession
    url: str
    last: dict[str, float] = field(default_factory=dict)
    peak: float = 0.0
    samples: int = 0

    async def scrape(self) -> dict[str, float]:
        async with self.session.get(f"{self.url}/metrics") as response:
            response.raise_for_status()
            page = parse(await response.text())
        self.last = page
        self.peak = max(self.peak, page[RSS])
        self.samples += 1
        return page

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.scrape()
            await asyncio.sleep(SAMPLE)

    async def until(
        self, condition: str, test: Callable[[dict[str, float]], bool], within: float = 300.0
    ) -> None:
        deadline = time.monotonic() + within
        while not test(await self.scrape()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not {condition} within {within:.0f} s: {self.last}")
            await asyncio.sleep(SAMPLE)


async def ready(serve: ServeProcess, session: aiohttp.ClientSession, within: float = 300.0) -> None:
    assert serve.process is not None
    deadline = time.monotonic() + within
    while True:
        if serve.process.returncode is not None:
            raise AssertionError(f"serve exited with {serve.process.returncode}:\n{serve.tail()}")
        try:
            async with session.get(f"{serve.url}/readyz") as response:
                if response.status == 200:
                    return
        except (aiohttp.ClientError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"serve not ready within {within:.0f} s:\n{serve.tail()}")
        await asyncio.sleep(0.05)


@dataclass
class Figures:
    enrolled: int
    seeding: float
    after_start: float
    after_work: float
    peak: float
    started: int
    ticks: int
    inbound: int


def handled(page: dict[str, float]) -> int:
    """Inbound messages this process handled, every channel and outcome."""
    return int(sum(v for k, v in page.items() if k.startswith("peerline_inbound_total")))


async def measure(workdir: Path, people: int, inbound: int, telegram: FakeTelegram | None) -> Figures:
    run = workdir / f"serve-{people}"
    run.mkdir()
    db = run / "peerline.db"
    now = datetime.now(UTC)
    seeding = await seed(db, people, now)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")},
        "PEERLINE_DATABASE_URL": database_url(db),
        "PEERLINE_TICK_SECONDS": str(TICK),
        "PEERLINE_QUIET_HOURS": "off",
    }
    port = free_port()
    if telegram is not None:
        env |= {
            "PEERLINE_TELEGRAM_TOKEN": TOKEN,
            "PEERLINE_TELEGRAM_API_URL": telegram.url,
            "PEERLINE_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "PEERLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
    serve = ServeProcess(run, env, port)
    await serve.start()
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            await ready(serve, session)
            sampler = Sampler(session, serve.url)
            ticks = "peerline_tick_seconds_count"
            await sampler.until("ticking", lambda m: m.get(ticks, 0) >= 2)
            after_start = (await sampler.scrape())[RSS]
            background = asyncio.create_task(sampler.run(stop))
            due = min(DUE, people)
            await make_due(db, due, datetime.now(UTC))
            backlog = 'peerline_due_backlog{kind="checkins"}'
            await sampler.until("all started", lambda m: m[backlog] == 0)
            if telegram is not None and inbound:
                await telegram.wait_for(lambda: telegram.webhook is not None, within=60)
                for n in range(inbound):
                    update = telegram.message_update(str(STRANGERS + n), f"hello, this is {n}")
                    assert await telegram.post_to_webhook(update) == 200
                await sampler.until("inbound counted", lambda m: handled(m) >= inbound)
            first = sampler.last[ticks]
            await sampler.until("ticked again", lambda m: m[ticks] >= first + EXTRA_TICKS)
            stop.set()
            await background
            page = await sampler.scrape()
            started = int(page.get('peerline_messages_total{channel="console",direction="out"}', 0))
            return Figures(
                people,
                seeding,
                after_start,
                page[RSS],
                sampler.peak,
                started,
                int(page[ticks]),
                handled(page),
            )
    finally:
        stop.set()
        assert await serve.stop() == 0, serve.tail()


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


async def table(workdir: Path, sizes: list[int], inbound: int, telegram: FakeTelegram | None) -> None:
    """The baseline, then one row per size as it is measured."""
    base = await measure(workdir, 0, inbound, telegram)
    for size in [0, *sizes]:
        f = base if size == 0 else await measure(workdir, size, inbound, telegram)
        print(
            f"{f.enrolled:>10} {mb(f.after_start):>12} {mb(f.after_work):>11} {mb(f.peak):>7} "
            f"{mb(f.after_start - base.after_start):>8} {mb(f.after_work - base.after_work):>7} "
            f"{mb(f.peak - base.peak):>7} {f.started:>13} {f.inbound:>8} {f.ticks:>6} {f.seeding:>7.1f} s",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="10k and 100k only")
    parser.add_argument("--inbound", type=int, default=0, help="webhook messages from strangers per size")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [int(x) for x in args.sizes.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-memory-"))
    began = time.perf_counter()
    try:
        print(
            f"RSS of `peerline serve` (SQLite, tick every {TICK} s, {DUE} check-ins made due after start),"
            f" MB; {os.cpu_count()} cores"
        )
        header = (
            f"{'enrolled':>10} {'after start':>12} {'after work':>11} {'peak':>7} "
            f"{'Δ start':>8} {'Δ work':>7} {'Δ peak':>7} {'messages out':>13} "
            f"{'inbound':>8} {'ticks':>6} {'seeding':>8}"
        )
        print(header)
        telegram = await FakeTelegram(TOKEN).start() if args.inbound else None
        try:
            await table(workdir, sizes, args.inbound, telegram)
        finally:
            if telegram is not None:
                await telegram.stop()

        print(f"total {time.perf_counter() - began:.0f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
