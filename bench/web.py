"""The staff console's pages over a big program: `/alerts` and `/caseload`, p50 and p95 over HTTP
(aiohttp's test server, the whole request: session, queries, decryption, template), beside the same
page's SQL sent raw (text statements, no ORM, nothing decrypted or rendered) in the same run.

Seeded with bulk inserts: --pirs PIRs, 25 to a peer (a supervisor over every 10 peers, one admin), each
with --days daily check-ins (mood and craving answered, most completed), --messages messages spread over
them, an open alert for every 20th PIR. Timed as a peer (their 25 PIRs) and as the admin (everyone; the
caseload is cut into pages of 50 after sorting, so its first page is timed).

    uv run python -m bench.web [--pirs 10000] [--messages 1000000] [--days 30] [--requests 50]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert, text

from bench.inbound import percentile
from bot.app import App
from bot.server import make_web_app
from bot.web import sessions
from config.settings import Settings
from storage.models import (
    Alert,
    Answer,
    CareTeam,
    CheckinSchedule,
    FlowSession,
    Message,
    Person,
    Role,
)

CHUNK = 20_000
PIRS_PER_PEER = 25
PEERS_PER_SUPERVISOR = 10
NOW = datetime(2026, 3, 2, 15, tzinfo=UTC)


async def _insert(app: App, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with app.db.transaction() as s:
            await s.execute(insert(model), rows[start : start + CHUNK])


async def seed(app: App, pirs: int, messages: int, days: int) -> tuple[int, int]:
    """Returns (a peer's id, the admin's id)."""
    peers = max(1, -(-pirs // PIRS_PER_PEER))
    supervisors = max(1, -(-peers // PEERS_PER_SUPERVISOR))
    made = NOW - timedelta(days=days + 1)
    admin_id, first_sup, first_peer, first_pir = 1, 2, 2 + supervisors, 2 + supervisors + peers
    people = [{"id": admin_id, "role": Role.ADMIN, "name": "Ada", "created_at": made}]
    people += [
        {"id": first_sup + n, "role": Role.SUPERVISOR, "name": f"Sup {n}", "created_at": made}
        for n in range(supervisors)
    ]
    people += [
        {"id": first_peer + n, "role": Role.PEER, "name": f"Peer {n}", "created_at": made}
        for n in range(peers)
    ]
    people += [
        {"id": first_pir + n, "role": Role.PIR, "name": f"PIR {n:05d}", "created_at": made}
        for n in range(pirs)
    ]
    await _insert(app, Person, people)
    await _insert(
        app,
        CareTeam,
        [
            {
                "pir_id": first_pir + n,
                "peer_id": first_peer + n // PIRS_PER_PEER,
                "backup_id": first_peer + (n // PIRS_PER_PEER + 1) % peers,
                "supervisor_id": first_sup + (n // PIRS_PER_PEER) // PEERS_PER_SUPERVISOR,
                "updated_at": made,
            }
            for n in range(pirs)
        ],
    )
    await _insert(
        app,
        CheckinSchedule,
        [
            {"person_id": first_pir + n, "flow_id": "daily_checkin", "paused": n % 50 == 0}
            for n in range(pirs)
        ],
    )
    sessions_rows: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    sid = 0
    for d in range(days):
        at = NOW - timedelta(days=days - d)
        for n in range(pirs):
            sid += 1
            kind = (n + d) % 10
            sessions_rows.append(
                {
                    "id": sid,
                    "person_id": first_pir + n,
                    "flow_id": "daily_checkin",
                    "channel": "sms",
                    "state": {},
                    "status": "completed" if kind < 8 else "expired",
                    "local_date": at.date().isoformat(),
                    "started_at": at,
                    "updated_at": at + timedelta(minutes=5),
                }
            )
            if kind < 9:
                for step, value in (("mood", 1 + (n + d) % 5), ("craving", (n * d) % 11)):
                    answers.append(
                        {
                            "session_id": sid,
                            "person_id": first_pir + n,
                            "flow_id": "daily_checkin",
                            "step_id": step,
                            "value": value,
                            "raw": str(value),
                            "answered_at": at + timedelta(minutes=3),
                        }
                    )
    await _insert(app, FlowSession, sessions_rows)
    await _insert(app, Answer, answers)
    del sessions_rows, answers
    span = timedelta(days=days).total_seconds()
    for start in range(0, messages, CHUNK):
        rows = []
        for i in range(start, min(messages, start + CHUNK)):
            pid = first_pir + i % pirs
            at = NOW - timedelta(seconds=span * (1 - i / max(messages, 1)))
            rows.append(
                {
                    "direction": "in" if i % 2 else "out",
                    "channel": "sms",
                    "address": f"+1202{pid:07d}",
                    "person_id": pid,
                    "body": "4" if i % 2 else "How are you today?",
                    "kind": "text",
                    "status": "sent",
                    "created_at": at,
                    "updated_at": at,
                }
            )
        await _insert(app, Message, rows)
    await _insert(
        app,
        Alert,
        [
            {
                "person_id": first_pir + n,
                "severity": ("critical", "high", "medium")[n % 3],
                "categories": ["use"],
                "reasons": ["words"],
                "status": "open",
                "created_at": NOW - timedelta(minutes=n % 600),
                "notified": [first_peer + n // PIRS_PER_PEER],
            }
            for n in range(0, pirs, 20)
        ],
    )
    return first_peer, admin_id


# The statements the pages send, as text (for a peer: `?` is their id).
RAW: dict[str, list[str]] = {
    "/alerts": [
        "SELECT a.* FROM alert a LEFT JOIN careteam c ON c.pir_id = a.person_id "
        "WHERE a.status != 'resolved' AND (c.peer_id = :me OR c.backup_id = :me) "
        "ORDER BY a.created_at, a.id",
        "SELECT * FROM person WHERE id IN (SELECT a.person_id FROM alert a JOIN careteam c "
        "ON c.pir_id = a.person_id WHERE a.status != 'resolved' AND (c.peer_id = :me OR c.backup_id = :me))",
    ],
    "/caseload": [
        "SELECT p.id, p.name, p.status FROM person p LEFT JOIN careteam c ON c.pir_id = p.id "
        "WHERE p.role = 'pir' AND (c.peer_id = :me OR c.backup_id = :me)",
        "SELECT person_id, max(updated_at) FROM flowsession WHERE person_id IN "
        "(SELECT p.id FROM person p LEFT JOIN careteam c ON c.pir_id = p.id "
        "WHERE p.role = 'pir' AND (c.peer_id = :me OR c.backup_id = :me)) "
        "AND status != 'active' AND flow_id NOT IN ('onboarding') GROUP BY person_id",
        "SELECT person_id, count(*) FROM alert WHERE person_id IN "
        "(SELECT p.id FROM person p LEFT JOIN careteam c ON c.pir_id = p.id "
        "WHERE p.role = 'pir' AND (c.peer_id = :me OR c.backup_id = :me)) "
        "AND status != 'resolved' GROUP BY person_id",
        "SELECT person_id, status FROM (SELECT person_id, status, row_number() OVER "
        "(PARTITION BY person_id ORDER BY started_at DESC, id DESC) AS rank FROM flowsession "
        "WHERE person_id IN (SELECT pir_id FROM careteam WHERE peer_id = :me OR backup_id = :me) "
        "AND status != 'active' AND flow_id NOT IN ('onboarding')) WHERE rank <= 60 ORDER BY person_id, rank",
        "SELECT a.* FROM answer a JOIN (SELECT id, row_number() OVER (PARTITION BY person_id, step_id "
        "ORDER BY answered_at DESC, id DESC) AS rank FROM answer WHERE person_id IN "
        "(SELECT pir_id FROM careteam WHERE peer_id = :me OR backup_id = :me) "
        "AND step_id IN ('mood', 'craving')) r ON r.id = a.id WHERE r.rank <= 18 "
        "ORDER BY a.answered_at DESC, a.id DESC",
        "SELECT person_id, paused FROM checkinschedule WHERE person_id IN "
        "(SELECT pir_id FROM careteam WHERE peer_id = :me OR backup_id = :me)",
    ],
}


def _summary(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"p50 {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 0.95):7.1f} ms"


async def _time(requests: int, call: Callable[[], Awaitable[None]]) -> list[float]:
    await call()  # warm: templates compiled, caches filled
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pirs", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-web-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    app = App.build(Settings(database_url=url), channels={})
    try:
        await app.db.upgrade()
        began = time.perf_counter()
        peer_id, admin_id = await seed(app, args.pirs, args.messages, args.days)
        print(
            f"{args.pirs:,} PIRs, {args.messages:,} messages, {args.days} check-ins each: seeded in "
            f"{time.perf_counter() - began:.1f} s ({app.db.engine.dialect.name})"
        )
        async with app.db.transaction() as s:
            tokens = {}
            for who, pid in (("peer", peer_id), ("admin", admin_id)):
                person = await s.get(Person, pid)
                assert person is not None
                tokens[who] = await sessions.start(s, person, datetime.now(UTC), how="bench")
        async with TestClient(TestServer(make_web_app(app))) as client:
            for path in ("/alerts", "/caseload"):
                for who in ("peer", "admin"):
                    cookie = {"Cookie": f"{sessions.COOKIE}={tokens[who]}"}

                    async def get(path: str = path, cookie: dict[str, str] = cookie) -> None:
                        response = await client.get(path, headers=cookie, allow_redirects=False)
                        assert response.status == 200, (path, response.status)
                        await response.read()

                    page = await _time(args.requests, get)
                    line = f"{path:10} as {who:5}  page {_summary(page)}"
                    if who == "peer":

                        async def raw(path: str = path) -> None:
                            async with app.db.transaction() as s:
                                for statement in RAW[path]:
                                    (await s.execute(text(statement), {"me": peer_id})).all()

                        line += f"   raw SQL {_summary(await _time(args.requests, raw))}"
                    print(line)
    finally:
        await app.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
