"""Sample values and facts the message catalogue fills its texts with (the same composers as production)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alerts.raising import Signal
from bot.content import Content
from bot.staff.caseload import Checkin
from bot.staff.views import AlertFacts, CaseloadRow

SAMPLES: dict[str, Any] = {
    "program": "Peerline",
    "support": "Sam, 202-555-0101",
    "address": "+13105550100",
    "alert_id": 12,
    "alerts": "#12 HIGH",
    "at": "Mon 2 Mar 9:30 AM CST",
    "attention": 3,
    "categories": "use, craving",
    "channel": "SMS",
    "checkin": "Mon 2 Mar: mood 2, craving 9",
    "checkins": "Mon 2 Mar: mood 2, craving 9",
    "code": "H0038",
    "count": 3,
    "craving": 9,
    "date": "2026-03-02",
    "family": "Jordan",
    "first": 8,
    "other": "Pat",
    "hours": 8,
    "day": "Mon 2 Mar",
    "days": 5,
    "how": "phone +12025550143",
    "icon": "⚠️",
    "id": 7,
    "last": "Mon 2 Mar",
    "method": "phone",
    "minutes": 25,
    "max": 480,
    "mood": 2,
    "n": 1,
    "name": "Alex",
    "names": "Alex Rivera, Alex Moreno",
    "next": "Tue 3 Mar 9:30 AM CST",
    "note": "talked, she is safe",
    "page": 2,
    "pages": 4,
    "paged": "Dana",
    "peer": "Sam",
    "phone": "+12025550143",
    "pir": "Alex",
    "purpose": "family support",
    "promise": "I'm letting your peer Sam know right now.",
    "raised_by": "Jordan",
    "reasons": "craving 9 of 10; used since last check-in: yes",
    "ref": 99,
    "role": "PIR",
    "severity": "HIGH",
    "skipped": "the backup peer Riley (opted out)",
    "status": "open",
    "streak": 4,
    "text": "can you call me after work?",
    "tier": "backup peer",
    "times": 3,
    "unit": 15,
    "until": "1 Sep 2026",
    "units": 2,
    "what": "a weekly note of how many days Alex checked in",
    "who": "Sam",
    "why": "opted out",
}


# A hard week, as people write it (emoji, curly quotes, long notes), for the composed pages.
SAMPLE_CRISIS = (
    "I can’t do this anymore. I have the pills my doctor gave me and I want to end it all tonight, "
    "I’m sorry for everything 💔💔"
)


SAMPLE_NOW = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)


SAMPLE_CHECKINS = (
    Checkin(
        SAMPLE_NOW - timedelta(days=1),
        "completed",
        {"mood": 1, "craving": 10, "used": True, "use_more": None, "safety": False, "anything_else": None},
        "daily_checkin",
    ),
    Checkin(
        SAMPLE_NOW - timedelta(days=2),
        "completed",
        {
            "mood": 3,
            "craving": 6,
            "used": False,
            "safety": False,
            "anything_else": "rough night, couldn't sleep, my sponsor is out of town this week",
        },
        "daily_checkin",
    ),
    Checkin(SAMPLE_NOW - timedelta(days=3), "missed", {}, "daily_checkin"),
)


def sample_alert(content: Content, locale: str, *, family: bool = False) -> AlertFacts:
    """A critical alert after a hard week: the crisis reason triage really writes, three check-ins."""
    result = content.triage.assess(SAMPLE_CRISIS, "en")
    reasons = Signal.from_triage(result, SAMPLE_CRISIS).reasons
    messages = content.messages

    def phone(number: str) -> str:
        return messages.text("reach_phone", locale, phone=number)

    telegram = messages.text("reach_channel", locale, channel="telegram")
    reach = [("Alex", f"{phone('+12025550143')}, {telegram}")]
    if family:
        reach.append(("Jordan", phone("+12025550188")))
    return AlertFacts(
        alert_id=12,
        severity="critical",
        status="open",
        subject="Alex",
        role="pir",
        reasons=(*reasons, "craving 10 of 10", "used since last check-in: yes"),
        created_at=SAMPLE_NOW,
        raised_by="Jordan" if family else None,
        recent=SAMPLE_CHECKINS,
        streak=0,
        reach=tuple(reach),
    )


def sample_caseload(size: int = 40) -> list[CaseloadRow]:
    """`size` PIRs: two with open alerts, three who missed their last check-in, the rest on track."""
    first = ("Alex", "Blair", "Casey", "Devon", "Emery", "Finley", "Gray", "Harper", "Indy", "Jesse")
    last = ("Rivera", "Moreno", "Nguyen", "Okafor")
    rows = []
    for n in range(size):
        status = "missed" if n in (3, 11, 25) else "completed"
        rows.append(
            CaseloadRow(
                name=f"{first[n % len(first)]} {last[n // len(first) % len(last)]}",
                last=Checkin(SAMPLE_NOW - timedelta(days=1), status, {}, "daily_checkin"),
                streak=0 if status == "missed" else n % 9 + 1,
                latest={"mood": n % 5 + 1, "craving": n % 11},
                alerts=((12, "critical"),) if n == 7 else ((9, "high"),) if n == 19 else (),
                role="backup" if n == 30 else "",
            )
        )
    return rows
