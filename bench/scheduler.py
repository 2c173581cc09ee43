"""Scheduler benchmarks.

1. Tick cost with 1,000 check-ins due among 10k / 100k / 1M enrolled people: the claim uses the index on
   the next due time, so the cost should follow the due count, not the enrolled count. The set-based
   tick (`bot.checkins.starting`) beside the per-check-in path (`tick(set_based=False)`) on a copy of the
   same database, and a naive claim that loads every schedule and filters in Python.
2. The morning burst: 10,000 check-ins (greeting + first question each) sent through the real outbox
   sender and rate limiter to a simulated provider that allows 30 messages/s and answers 429 above it.
   Time is simulated (the limiter's clock and sleep are virtual), so the figure is the rate the sender
   achieves against the limit; the wall-clock time shows the sender's own headroom.

    uv run python -m bench.scheduler [--sizes 10000,100000,1000000] [--burst 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, select

from bench.enrolment import enrol
from bot.app import App
from bot.channels.base import Channel, Failed, FailureKind, OutboundMessage, SendResult, Sent
from bot.channels.ratelimit import RateLimiter
from bot.checkins.tick import tick
from bot.clock import ManualClock
from config.settings import Settings
from storage.models import CheckinSchedule

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in New York
DUE = 1000


class SimulatedProvider(Channel):
    """Accepts `limit` messages per (virtual) second; anything faster is refused with a 429."""

    name = "console"

    def __init__(self, limit: float, vclock: list[float]) -> None:
        self.limit = limit
        self.vclock = vclock
        self.window: deque[float] = deque()
        self.sent: list[float] = []
        self.refused = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        now = self.vclock[0]
        while self.window and self.window[0] <= now - 1.0 + 1e-9:  # float sums of 1/30 s drift by ulps
            self.window.popleft()
        if len(self.window) >= self.limit:
            self.refused += 1
            return Failed("429 Too Many Requests", FailureKind.TRANSIENT, code="429", retry_after=1.0)
        self.window.append(now)
        self.sent.append(now)
        return Sent(provider_id=f"sim:{len(self.sent)}")


def build(workdir: Path, name: str, channel: Channel | None = None) -> App:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{workdir / name}")
    channels = {"console": channel} if channel is not None else {}
    return App.build(settings, clock=ManualClock(NOW + timedelta(minutes=1)), channels=channels)


async def seed(workdir: Path, people: int) -> tuple[Path, float]:
    """A database with `people` enrolled and DUE due, and how long seeding took."""
    name = f"tick-{people}.db"
    app = build(workdir, name)
    began = time.perf_counter()
    try:
        await app.db.upgrade()
        await enrol(app.db, people, DUE, NOW)
    finally:
        await app.close()
    return workdir / name, time.perf_counter() - began


async def per_checkin_tick(workdir: Path, seeded: Path) -> tuple[float, int]:
    """The per-check-in reference on a copy of the seeded database."""
    copy = workdir / f"ref-{seeded.name}"
    shutil.copyfile(seeded, copy)
    app = build(workdir, copy.name)
    try:
        began = time.perf_counter()
        report = await tick(app, NOW + timedelta(minutes=1), batch=200, set_based=False)
        return time.perf_counter() - began, report.started
    finally:
        await app.close()
        copy.unlink()


async def tick_cost(workdir: Path, seeded: Path) -> tuple[float, float, float, int]:
    app = build(workdir, seeded.name)
    try:
        began = time.perf_counter()
        async with app.db.transaction() as s:  # naive baseline: every schedule, filtered in Python
            rows = (await s.scalars(select(CheckinSchedule))).all()
            naive_due = [r for r in rows if r.next_due_at is not None and r.next_due_at <= NOW]
        naive = time.perf_counter() - began
        began = time.perf_counter()
        async with app.db.transaction() as s:  # the claim query a tick runs (index on the due time)
            claimed = (
                await s.scalars(
                    select(CheckinSchedule)
                    .where(col(CheckinSchedule.next_due_at) <= NOW, col(CheckinSchedule.paused).is_(False))
                    .order_by(col(CheckinSchedule.next_due_at))
                    .limit(200)
                )
            ).all()
        claim = time.perf_counter() - began
        began = time.perf_counter()
        report = await tick(app, NOW + timedelta(minutes=1), batch=200)
        ours = time.perf_counter() - began
        assert len(naive_due) == DUE
        assert len(claimed) == 200
        return ours, claim, naive, report.started
    finally:
        await app.close()


async def burst(workdir: Path, checkins: int, limit: float) -> None:
    vclock = [0.0]

    async def vsleep(seconds: float) -> None:
        vclock[0] += seconds
        await asyncio.sleep(0)

    provider = SimulatedProvider(limit, vclock)
    provider.limiter = RateLimiter(limit, clock=lambda: vclock[0], sleep=vsleep)
    app = build(workdir, "burst.db", provider)
    try:
        await app.db.upgrade()
        await enrol(app.db, checkins, checkins, NOW)
        began = time.perf_counter()
        report = await tick(app, NOW + timedelta(minutes=1), batch=500)
        ticked = time.perf_counter() - began
        began = time.perf_counter()
        await app.sender.drain()
        wall = time.perf_counter() - began
    finally:
        await app.close()
    span = provider.sent[-1] - provider.sent[0] if len(provider.sent) > 1 else 0.0
    rate = (len(provider.sent) - 1) / span if span else 0.0
    print(f"morning burst: {report.started} check-ins started by one tick in {ticked:.1f} s")
    print(
        f"  {len(provider.sent)} messages out in {span:.0f} simulated s: {rate:.2f} msg/s "
        f"= {rate / limit:.1%} of the {limit:.0f} msg/s limit, {provider.refused} refused with 429"
    )
    print(
        f"  sender wall-clock: {wall:.1f} s ({len(provider.sent) / wall:.0f} msg/s of headroom "
        f"without the limit)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--limit", type=float, default=30.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-"))
    try:
        print(f"tick with {DUE} due (SQLite), starting {DUE} check-ins:")
        print(
            f"{'enrolled':>10} {'set-based tick':>15} {'per check-in':>13} {'per check-in each':>18} "
            f"{'claim query':>12} {'naive full scan':>16} {'seeding':>9}"
        )
        for size in (int(x) for x in args.sizes.split(",")):
            seeded, seeding = await seed(workdir, size)
            reference, ref_started = await per_checkin_tick(workdir, seeded)
            ours, claim, naive, started = await tick_cost(workdir, seeded)
            assert started == ref_started == DUE
            seeded.unlink()
            print(
                f"{size:>10} {ours * 1000:>12.0f} ms {reference * 1000:>10.0f} ms "
                f"{reference * 1000 / DUE:>15.2f} ms {claim * 1000:>9.1f} ms {naive * 1000:>13.0f} ms "
                f"{seeding:>7.0f} s"
            )
            print(f"{'':>10} set-based: {ours * 1000 / DUE:.3f} ms per check-in started")
        await burst(workdir, args.burst, args.limit)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
