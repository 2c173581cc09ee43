"""The benchmarks' bulk enrolment at a tiny size, so `bench.scheduler` and `bench.memory` cannot rot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from bench.memory import make_due, seed
from bot.app import App
from bot.checkins.tick import tick
from bot.clock import ManualClock
from config.settings import Settings
from storage.models import CareTeam, ChannelIdentity, CheckinSchedule, FlowSession, Person

NOW = datetime(2026, 3, 2, 17, 30, 20, tzinfo=UTC)  # 12:30 in New York, hours after the 09:00 check-in


def _app(db: Path, now: datetime) -> App:
    return App.build(
        Settings(database_url=f"sqlite+aiosqlite:///{db}", quiet_hours="off"),
        clock=ManualClock(now),
        channels={},
    )


async def test_seeding_writes_every_row_and_the_made_due_check_ins_start(tmp_path: Path) -> None:
    db = tmp_path / "seeded.db"
    await seed(db, 120, NOW)  # 50 PIRs per peer: 3 peers, the last with 20
    await make_due(db, 7, NOW)
    app = _app(db, NOW + timedelta(seconds=5))
    try:
        async with app.db.transaction() as s:
            roles = dict(
                (await s.execute(select(col(Person.role), func.count()).group_by(col(Person.role)))).all()
            )
            identities = await s.scalar(select(func.count()).select_from(ChannelIdentity))
            schedules = await s.scalar(select(func.count()).select_from(CheckinSchedule))
            teams = dict((await s.execute(select(col(CareTeam.pir_id), col(CareTeam.peer_id)))).all())
            due = await s.scalar(
                select(func.count())
                .select_from(CheckinSchedule)
                .where(col(CheckinSchedule.next_due_at) <= NOW)
            )
        assert roles == {"pir": 120, "peer": 3}
        assert identities == schedules == 120
        assert len(teams) == 120
        assert (teams[1], teams[50], teams[51], teams[120]) == (121, 121, 122, 123)
        assert due == 7
        report = await tick(app)  # what `serve`'s scheduler does: the 7 start, none recorded missed
        assert (report.started, report.missed) == (7, 0)
        async with app.db.transaction() as s:
            sessions = (await s.scalars(select(col(FlowSession.person_id)))).all()
        assert sorted(sessions) == list(range(1, 8))
    finally:
        await app.close()
