"""`/healthz` and `/readyz`: the database answers, and how far behind the outbox sender is.

The outbox holds only what is not delivered yet (a sent row is deleted), so the sender's lag is the age
of the oldest row that was due: zero when everything due went out. A database that does not answer is a
503 with the reason, never a 500, so a load balancer takes the process out and an operator sees why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col

from storage.db import Database
from storage.models import Outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Health:
    database: str  # "ok", or the kind of failure
    undelivered: int = 0
    sender_lag_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.database == "ok"


async def probe(db: Database, now: datetime) -> Health:
    """One round trip to the database, and the outbox's depth and oldest due row."""
    try:
        async with db.transaction() as s:
            await s.execute(text("SELECT 1"))
            depth, oldest = (
                await s.execute(
                    select(
                        func.count(),
                        func.min(col(Outbox.next_attempt_at)).filter(col(Outbox.next_attempt_at) <= now),
                    ).select_from(Outbox)
                )
            ).one()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check: the database did not answer (%s)", type(exc).__name__)
        return Health(database=f"unavailable: {type(exc).__name__}")
    lag = 0.0
    if oldest is not None:
        oldest_at = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=now.tzinfo)
        lag = max(0.0, (now - oldest_at).total_seconds())
    return Health(database="ok", undelivered=int(depth), sender_lag_seconds=round(lag, 1))
