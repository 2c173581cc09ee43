"""The outcomes report over a big program: N PIRs with D days of history each.

History per PIR and day: one check-in session (most completed, some partial or missed) with its mood and
craving answers, an outbound check-in message and an inbound reply; an alert every 30 PIR-days, a
contact note every 10. Baseline, in the same run: one `SELECT count(*)` over the same message table, the
least any report over it could cost.

    uv run python -m bench.reports [--pirs 10000] [--days 90] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from bot.app import App
from bot.reports.outcomes import outcomes
from bot.reports.period import Period
from config.settings import Settings
from storage.models import Alert, Answer, CareTeam, ContactNote, FlowSession, Message, Person

CHUNK = 20_000


async def _insert(app: App, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        async with app.db.transaction() as s:
            await s.execute(insert(model), rows[start : start + CHUNK])


async def seed(app: App, pirs: int, days: int, first: date) -> None:
    day0 = datetime(first.year, first.month, first.day, 15, tzinfo=UTC)
    await _insert(
        app,
        Person,
        [{"id": 1, "role": "peer", "name": "Sam", "created_at": day0 - timedelta(days=400)}]
        + [
            {"id": n + 2, "role": "pir", "name": f"PIR {n}", "created_at": day0 - timedelta(days=n % 200)}
            for n in range(pirs)
        ],
    )
    await _insert(app, CareTeam, [{"pir_id": n + 2, "peer_id": 1, "updated_at": day0} for n in range(pirs)])
    sessions: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    sid = 0
    for d in range(days):
        at = day0 + timedelta(days=d)
        local = (first + timedelta(days=d)).isoformat()
        for n in range(pirs):
            pid = n + 2
            sid += 1
            kind = (n + d) % 10
            status = "completed" if kind < 7 else "expired"
            sessions.append(
                {
                    "id": sid,
                    "person_id": pid,
                    "flow_id": "daily_checkin",
                    "channel": "sms",
                    "state": {},
                    "status": status,
                    "local_date": local,
                    "started_at": at,
                    "updated_at": at,
                }
            )
            if kind < 8:  # completed, or partial
                for step, value in (("mood", 1 + (n + d) % 5), ("craving", (n * d) % 11)):
                    answers.append(
                        {
                            "session_id": sid,
                            "person_id": pid,
                            "flow_id": "daily_checkin",
                            "step_id": step,
                            "value": value,
                            "raw": str(value),
                            "score": float(value),
                            "answered_at": at + timedelta(minutes=3),
                        }
                    )
            for direction in ("out", "in"):
                messages.append(
                    {
                        "direction": direction,
                        "channel": "sms",
                        "address": f"+1202555{pid:04d}"[-12:],
                        "person_id": pid,
                        "body": "How are you today?" if direction == "out" else "4",
                        "kind": "checkin" if direction == "out" else "text",
                        "status": "sent",
                        "created_at": at,
                        "updated_at": at,
                    }
                )
            if (n + d) % 30 == 0:
                alerts.append(
                    {
                        "person_id": pid,
                        "severity": "critical" if n % 2 else "high",
                        "categories": ["use"],
                        "reasons": ["words"],
                        "status": "acknowledged",
                        "created_at": at,
                        "acknowledged_at": at + timedelta(seconds=60 + n % 900),
                        "escalation_level": 1 + n % 3,
                        "notified": [],
                    }
                )
            if (n + d) % 10 == 0:
                notes.append(
                    {
                        "pir_id": pid,
                        "peer_id": 1,
                        "service_date": local,
                        "started_at": at,
                        "ended_at": at + timedelta(minutes=20),
                        "minutes": 20,
                        "units": 1,
                        "method": "phone",
                        "note": "talked",
                        "created_at": at,
                    }
                )
    for model, rows in (
        (FlowSession, sessions),
        (Answer, answers),
        (Message, messages),
        (Alert, alerts),
        (ContactNote, notes),
    ):
        await _insert(app, model, rows)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pirs", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="peerline-bench-reports-"))
    url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    app = App.build(Settings(database_url=url), channels={})
    first = date(2026, 1, 5)
    try:
        await app.db.upgrade()
        began = time.perf_counter()
        await seed(app, args.pirs, args.days, first)
        print(
            f"{args.pirs:,} PIRs x {args.days} days: seeded in {time.perf_counter() - began:.1f} s "
            f"({app.db.engine.dialect.name})"
        )
        period = Period(first, first + timedelta(days=args.days - 1), "America/New_York")
        for run in range(1, 4):
            async with app.db.transaction() as s:
                began = time.perf_counter()
                count = await s.scalar(select(func.count()).select_from(Message))
                baseline = time.perf_counter() - began
            async with app.db.transaction() as s:
                began = time.perf_counter()
                report = await outcomes(s, period, app.content.escalation, program="bench")
                ours = time.perf_counter() - began
            print(
                f"{run}: baseline SELECT count(*) over {count:,} messages {baseline:7.3f} s   "
                f"outcomes report {ours:7.3f} s   ({report.figures['checkins']['started']:,} check-ins, "
                f"{report.figures['alerts']['total']:,} alerts)"
            )
    finally:
        await app.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
