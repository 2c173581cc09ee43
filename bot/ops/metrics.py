"""`GET /metrics`: the program's state in Prometheus text format, names prefixed `peerline_`.

Every figure is read from the database at scrape time (one grouped query per family), so two `serve`
processes sharing a database report the same numbers and a restart loses nothing. What is counted:
messages in and out by channel, provider errors by channel and code, alerts by severity and state, the
outbox's depth by channel and priority, the age of the oldest message due and not delivered, and the due
backlog (check-ins and escalation timers whose time has come). After them come this process's own
instruments (`bot.ops.instruments`: latencies, outcomes, escalation steps, tick durations) and
the process's memory, CPU and open files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from bot.ops.instruments import INSTRUMENTS
from storage.db import Database
from storage.models import Alert, AlertStatus, CheckinSchedule, Message, Outbox

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Snapshot(Collector):
    """The families read for one scrape, handed to prometheus-client to format."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def _grouped(s: AsyncSession, *columns: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in (await s.execute(select(*columns, func.count()).group_by(*columns))).all()]


async def scrape(db: Database, now: datetime) -> bytes:
    async with db.transaction() as s:
        messages = await _grouped(s, col(Message.channel), col(Message.direction))
        errors = (
            await s.execute(
                select(col(Message.channel), col(Message.error_code), func.count())
                .where(col(Message.error_code).is_not(None))
                .group_by(col(Message.channel), col(Message.error_code))
            )
        ).all()
        alerts = await _grouped(s, col(Alert.severity), col(Alert.status))
        outbox = await _grouped(s, col(Outbox.channel), col(Outbox.priority))
        oldest = await s.scalar(
            select(func.min(col(Outbox.next_attempt_at))).where(col(Outbox.next_attempt_at) <= now)
        )
        due_checkins = await s.scalar(
            select(func.count())
            .select_from(CheckinSchedule)
            .where(col(CheckinSchedule.next_due_at) <= now, col(CheckinSchedule.paused).is_(False))
        )
        due_timers = await s.scalar(
            select(func.count())
            .select_from(Alert)
            .where(
                col(Alert.next_escalation_at) <= now,
                col(Alert.status).in_([AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED]),
            )
        )
    sent = CounterMetricFamily(
        "peerline_messages", "Messages recorded, by channel and direction", labels=["channel", "direction"]
    )
    for channel, direction, count in messages:
        sent.add_metric([channel, direction], count)
    failed = CounterMetricFamily(
        "peerline_provider_errors",
        "Messages a provider refused, by channel and code",
        labels=["channel", "code"],
    )
    for channel, code, count in errors:
        failed.add_metric([channel, str(code)], count)
    by_state = GaugeMetricFamily(
        "peerline_alerts", "Alerts by severity and state", labels=["severity", "state"]
    )
    for severity, state, count in alerts:
        by_state.add_metric([severity, state], count)
    depth = GaugeMetricFamily(
        "peerline_outbox_depth", "Messages waiting to be delivered", labels=["channel", "priority"]
    )
    for channel, priority, count in outbox:
        depth.add_metric([channel, str(priority)], count)
    lag = GaugeMetricFamily(
        "peerline_outbox_oldest_due_age_seconds", "Age of the oldest message due and not delivered"
    )
    lag.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    backlog = GaugeMetricFamily(
        "peerline_due_backlog", "Due work whose time has come and that no tick has done yet", labels=["kind"]
    )
    backlog.add_metric(["checkins"], int(due_checkins or 0))
    backlog.add_metric(["escalations"], int(due_timers or 0))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot([sent, failed, by_state, depth, lag, backlog]))
    return generate_latest(registry) + generate_latest(INSTRUMENTS)
