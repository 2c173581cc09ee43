"""Several `peerline` processes ticking the same PostgreSQL database: every check-in exactly once."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from storage.db import Database
from storage.models import ChannelIdentity, CheckinSchedule, FlowSession, Message, Person

DUE = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PEOPLE = 5000


async def _enrol_many(db: Database) -> None:
    async with db.transaction() as s:
        await s.execute(
            insert(Person),
            [
                {
                    "id": n,
                    "role": "pir",
                    "name": f"p{n}",
                    "locale": "en",
                    "timezone": "America/New_York",
                    "status": "active",
                    "created_at": DUE - timedelta(days=1),
                }
                for n in range(1, PEOPLE + 1)
            ],
        )
        await s.execute(
            insert(ChannelIdentity),
            [
                {
                    "person_id": n,
                    "channel": "console",
                    "address": f"p{n}",
                    "created_at": DUE - timedelta(days=1),
                }
                for n in range(1, PEOPLE + 1)
            ],
        )
        await s.execute(
            insert(CheckinSchedule),
            [
                {
                    "person_id": n,
                    "flow_id": "daily_checkin",
                    "local_time": "09:00",
                    "days": "mon,tue,wed,thu,fri,sat,sun",
                    "paused": False,
                    "next_due_at": DUE,
                }
                for n in range(1, PEOPLE + 1)
            ],
        )


async def _worker(db_url: str, now: str) -> tuple[int, str]:
    env = {**os.environ, "PEERLINE_DATABASE_URL": db_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "scheduler",
        "tick",
        "--now",
        now,
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=600)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode()


async def test_three_workers_5000_due_schedules_exactly_5000_checkins(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("several workers share one database only on PostgreSQL")
    db = Database(db_url)
    try:
        await db.upgrade()
        await _enrol_many(db)
        now = (DUE + timedelta(minutes=1)).isoformat()
        results = await asyncio.gather(*(_worker(db_url, now) for _ in range(3)))
        assert [code for code, _ in results] == [0, 0, 0], results
        async with db.transaction() as s:
            sessions = await s.scalar(select(func.count()).select_from(FlowSession))
            people = await s.scalar(select(func.count(func.distinct(FlowSession.person_id))))
            messages = await s.scalar(select(func.count()).select_from(Message))
            pending = await s.scalar(
                select(func.count()).select_from(CheckinSchedule).where(CheckinSchedule.next_due_at <= DUE)
            )
        assert (sessions, people, pending) == (PEOPLE, PEOPLE, 0)
        assert messages == 2 * PEOPLE  # greeting + first question, once each
        started = sum(int(out.split('"started": ')[1].split(",")[0]) for _, out in results)
        assert started == PEOPLE  # each check-in counted by exactly one worker
    finally:
        await db.dispose()
