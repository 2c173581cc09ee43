"""Alert latency: from a red-flag message entering the pipeline to the peer's page handed to the channel.

Load: --pirs check-ins in flight. Each PIR's check-in has been started (its questions wait in the outbox:
the morning burst) and every PIR answers its three questions, --concurrency at a time, while the outbox
sender delivers. Meanwhile other PIRs write a crisis message every --every-ms; each is timed from the
call to `Pipeline.handle` to the moment the page to their peer reaches `Channel.send`.
Baseline, in the same run: the same red flags with nothing else in flight.

    .venv/bin/python -m bench.alert_latency [--pirs 2000] [--flags 200] [--concurrency 64]
        [--every-ms 100] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.inbound import ANSWERS, BENCH_FLOW, percentile
from bot.app import App, freeze_startup_heap
from bot.channels.base import Inbound, OutboundMessage, SendResult, Sent
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import add_person
from config.settings import DEFAULT_CONFIG_DIR, Settings
from storage.models import CareTeam, Role

RED_FLAG = "I want to kill myself"
PIRS_PER_PEER = 50
_PAGE = re.compile(r"alert #\d+: (\w*red\d+) ")


class TimingConsole(ConsoleChannel):
    """The console channel, noting when each red-flag PIR's page is handed to it."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag
        self.paged: dict[str, float] = {}
        self.sends = 0
        self.all_paged = asyncio.Event()
        self.expected = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sends += 1
        if "peer" in message.address:
            match = _PAGE.search(message.text)
            if match is not None and match.group(1) not in self.paged:
                self.paged[match.group(1)] = time.perf_counter()
                if len(self.paged) >= self.expected:
                    self.all_paged.set()
        return Sent(provider_id=f"bench:{self.tag}:out:{self.sends}")  # unique across runs in one db


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    answers: int = 0
    load_seconds: float = 0.0
    burst: int = 0


async def _seed(app: App, pirs: int, flags: int, prefix: str) -> int:
    """PIRs `pir*` (with a check-in started) and `red*`, 50 to a peer; returns messages queued."""
    now = app.clock.now()
    peers = max(1, (pirs + flags + PIRS_PER_PEER - 1) // PIRS_PER_PEER)
    queued = 0
    async with app.db.transaction() as s:
        peer_ids = []
        for n in range(peers):
            name = f"{prefix}peer{n}"
            peer = await add_person(s, now, role=Role.PEER, name=name, console=name, actor="bench")
            peer_ids.append(peer.id)
        names = [f"{prefix}pir{n}" for n in range(pirs)] + [f"{prefix}red{n}" for n in range(flags)]
        for n, name in enumerate(names):
            person = await add_person(s, now, role=Role.PIR, name=name, console=name, actor="bench")
            assert person.id is not None
            s.add(CareTeam(pir_id=person.id, peer_id=peer_ids[n % peers], updated_at=now))
            if n < pirs:
                await start_checkin(s, app.content, person, "bench_checkin", now, app.buttons, actor="bench")
                queued += 2  # the intro and the first question
    return queued


async def run(
    config_dir: Path, url: str, *, pirs: int, flags: int, concurrency: int, every: float, prefix: str
) -> Run:
    """One measurement on its own app; `prefix` keeps its people apart from another run's."""
    channel = TimingConsole(prefix)
    channel.expected = flags
    app = App.build(Settings(database_url=url, config_dir=config_dir), channels={"console": channel})
    result = Run()
    try:
        await app.db.upgrade()
        result.burst = await _seed(app, pirs, flags, prefix)
        freeze_startup_heap()  # as `peerline serve` does once it is up
        stop = asyncio.Event()
        sender = asyncio.create_task(app.sender.run(stop, idle_seconds=0.05))
        load_done = asyncio.Event()
        counter = 0

        async def message(address: str, text: str) -> None:
            nonlocal counter
            counter += 1
            await app.pipeline.handle(
                Inbound(
                    channel="console",
                    address=address,
                    text=text,
                    received_at=datetime.now(UTC),
                    provider_id=f"bench:{prefix}:{counter}",
                )
            )

        async def load() -> None:
            gate = asyncio.Semaphore(concurrency)

            async def answer(pir: int, question: int) -> None:
                async with gate:
                    await message(f"{prefix}pir{pir}", ANSWERS[question])
                    result.answers += 1

            began = time.perf_counter()
            for question in range(len(ANSWERS)):
                await asyncio.gather(*(answer(pir, question) for pir in range(pirs)))
            result.load_seconds = time.perf_counter() - began
            load_done.set()

        started: dict[str, float] = {}
        flagged: list[asyncio.Task[None]] = []
        loader = asyncio.create_task(load()) if pirs else None
        for n in range(flags):
            if loader is not None and load_done.is_set():
                break  # only flags raised while the load runs count
            await asyncio.sleep(every / 1000)
            name = f"{prefix}red{n}"
            started[name] = time.perf_counter()
            flagged.append(asyncio.create_task(message(name, RED_FLAG)))
        channel.expected = len(started)
        if len(channel.paged) >= channel.expected:
            channel.all_paged.set()
        await asyncio.wait_for(channel.all_paged.wait(), timeout=120)
        await asyncio.gather(*flagged)
        if loader is not None:
            await loader
        stop.set()
        await sender
        result.latencies = [channel.paged[name] - began for name, began in started.items()]
        return result
    finally:
        gc.unfreeze()  # the next run freezes its own start-up
        await app.close()


def report(name: str, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    print(
        f"{name:<44} {len(ms):>5} flags   p50 {statistics.median(ms):8.1f} ms   "
        f"p99 {percentile(ms, 0.99):8.1f} ms   max {ms[-1]:8.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pirs", type=int, default=2000)
    parser.add_argument("--flags", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--every-ms", type=float, default=100.0)
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: a fresh SQLite file per run)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="peerline-alert-bench-"))
    try:
        config_dir = workdir / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config_dir, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
        (config_dir / "flows" / "bench_checkin.yaml").write_text(BENCH_FLOW, encoding="utf-8")

        def url(name: str) -> str:
            return args.database_url or f"sqlite+aiosqlite:///{workdir / name}"

        backend = "PostgreSQL" if args.database_url and "postgres" in args.database_url else "SQLite"
        print(f"alert latency: red flag into the pipeline -> peer page handed to the channel ({backend})")
        base = await run(
            config_dir,
            url("baseline.db"),
            pirs=0,
            flags=args.flags,
            concurrency=1,
            every=args.every_ms,
            prefix="base",
        )
        report("baseline: nothing else in flight", base.latencies)
        loaded = await run(
            config_dir,
            url("loaded.db"),
            pirs=args.pirs,
            flags=args.flags,
            concurrency=args.concurrency,
            every=args.every_ms,
            prefix="load",
        )
        report(f"{args.pirs} check-ins in flight ({args.concurrency} answering)", loaded.latencies)
        rate = loaded.answers / max(loaded.load_seconds, 1e-9)
        print(
            f"load: a morning burst of {loaded.burst} check-in messages queued, then "
            f"{loaded.answers} answers in {loaded.load_seconds:.1f} s ({rate:.0f}/s)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
