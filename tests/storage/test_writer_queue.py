"""The SQLite writer queue: one writer at a time, in order, with alerts going first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from storage.db import Database


async def _until(condition_met: asyncio.Event | None = None, rounds: int = 50) -> None:
    for _ in range(rounds):  # let queued tasks run up to their next wait
        await asyncio.sleep(0)
    if condition_met is not None:
        await asyncio.wait_for(condition_met.wait(), timeout=5)


async def test_urgent_writers_go_first_and_the_others_keep_their_order(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def write(name: str, *, urgent: bool = False, hold: bool = False) -> None:
        async with db.transaction(urgent=urgent):
            order.append(name)
            if hold:
                holding.set()
                await release.wait()

    try:
        tasks = [asyncio.create_task(write("holder", hold=True))]
        await _until(holding)
        for name, urgent in [("a", False), ("b", False), ("alert", True), ("c", False), ("page", True)]:
            tasks.append(asyncio.create_task(write(name, urgent=urgent)))
            await _until()
        release.set()
        await asyncio.gather(*tasks)
        assert order == ["holder", "alert", "page", "a", "b", "c"]
    finally:
        await db.dispose()


async def test_a_cancelled_waiter_never_keeps_the_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    holding, release = asyncio.Event(), asyncio.Event()
    done: list[str] = []

    async def hold() -> None:
        async with db.transaction():
            holding.set()
            await release.wait()

    async def write(name: str) -> None:
        async with db.transaction(urgent=True):
            done.append(name)

    try:
        holder = asyncio.create_task(hold())
        await _until(holding)
        doomed = asyncio.create_task(write("doomed"))
        await _until()
        doomed.cancel()
        release.set()
        await holder
        await asyncio.wait_for(write("next"), timeout=5)
        assert done == ["next"]
    finally:
        await db.dispose()


async def test_on_postgresql_ordinary_work_is_queued_at_the_pool_size() -> None:
    from storage.db import _WriterQueue  # noqa: PLC0415  (the queue itself, without a server)

    queue = _WriterQueue(2)
    await queue.acquire(urgent=False)
    await queue.acquire(urgent=False)
    third = asyncio.create_task(queue.acquire(urgent=False))
    await _until()
    assert not third.done()
    queue.release()
    await asyncio.wait_for(third, timeout=5)
