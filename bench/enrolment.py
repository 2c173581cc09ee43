"""Bulk enrolment for benchmarks: many PIRs (person, console identity, daily schedule, care team) written
with bulk inserts, in chunks, with no ORM objects built per person.

Used by `bench.scheduler` (tick cost by enrolment size) and `bench.memory` (RSS of `serve` by enrolment
size); `tests/bench/test_enrolment.py` runs it at a tiny size so the benchmarks cannot rot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert

from storage.db import Database
from storage.models import CareTeam, ChannelIdentity, CheckinSchedule, Person

CHUNK = 20_000
ZONE = "America/New_York"  # every person's time zone


async def enrol(db: Database, people: int, due: int, now: datetime, *, pirs_per_peer: int = 0) -> None:
    """Bulk-enrol `people` PIRs (ids 1..people); the first `due` are due at `now`, the rest a day later.

    With `pirs_per_peer`, one peer specialist (ids after the PIRs) per that many PIRs, each PIR's care
    team naming theirs; with 0, no staff and no care teams."""
    peers = -(-people // pirs_per_peer) if pirs_per_peer else 0
    if peers:
        async with db.transaction() as s:
            await s.execute(
                insert(Person),
                [
                    {
                        "id": people + k,
                        "role": "peer",
                        "name": f"peer{k}",
                        "locale": "en",
                        "timezone": ZONE,
                        "status": "active",
                        "created_at": now - timedelta(days=1),
                    }
                    for k in range(1, peers + 1)
                ],
            )
    for start in range(1, people + 1, CHUNK):
        ids = range(start, min(people, start + CHUNK - 1) + 1)
        async with db.transaction() as s:
            await s.execute(
                insert(Person),
                [
                    {
                        "id": n,
                        "role": "pir",
                        "name": f"p{n}",
                        "locale": "en",
                        "timezone": ZONE,
                        "status": "active",
                        "created_at": now - timedelta(days=1),
                    }
                    for n in ids
                ],
            )
            await s.execute(
                insert(ChannelIdentity),
                [{"person_id": n, "channel": "console", "address": f"p{n}", "created_at": now} for n in ids],
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
                        "next_due_at": now if n <= due else now + timedelta(days=1),
                    }
                    for n in ids
                ],
            )
            if peers:
                await s.execute(
                    insert(CareTeam),
                    [
                        {"pir_id": n, "peer_id": people + 1 + (n - 1) // pirs_per_peer, "updated_at": now}
                        for n in ids
                    ],
                )
