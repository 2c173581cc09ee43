"""What an alert page says and carries: its facts, headers, text for the reader, and the ACK/DONE buttons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.team import team_of
from bot.channels.base import Button
from bot.content import Content
from bot.staff.caseload import Summary, reach_text, summary
from bot.staff.grammar import ack_payload, done_payload
from bot.staff.reader import Reader
from bot.staff.views import AlertFacts, StaffTexts
from flows.escalation import EscalationPolicy, Tier
from storage.models import Alert, Person

Rows = tuple[tuple[Button, ...], ...]  # keyboard rows of an outbound message


@dataclass(slots=True)
class PageContext:
    alert: Alert
    subject: Person
    raised_by: Person | None
    team: dict[Tier, Person | None]
    summary: Summary


Header = tuple[str, Mapping[str, Any]]


class Pages:
    """The facts of an alert and the page written from them, for one reader.

    `Escalation.__init__` sets these; paging, reminders and the digest are mixins over `Pages`.
    """

    _content: Content
    _buttons: Mapping[str, bool]

    @property
    def policy(self) -> EscalationPolicy:
        return self._content.escalation

    def alert_buttons(self, alert_id: int, locale: str) -> Rows:
        messages = self._content.messages
        return (
            (
                Button(messages.text("button_ack", locale), ack_payload(alert_id)),
                Button(messages.text("button_done", locale), done_payload(alert_id)),
            ),
        )

    async def _context(self, s: AsyncSession, alert: Alert) -> PageContext:
        subject = await s.get(Person, alert.person_id)
        assert subject is not None and subject.id is not None
        raised_by = await s.get(Person, alert.raised_by_id) if alert.raised_by_id is not None else None
        return PageContext(
            alert, subject, raised_by, await team_of(s, subject.id), await summary(s, subject.id)
        )

    @property
    def staff_texts(self) -> StaffTexts:
        return StaffTexts(self._content)

    def _header(self, header: Header, reader: Reader) -> str:
        key, values = header
        if not key:
            return ""
        messages, locale = self._content.messages, reader.locale
        shown = dict(values)
        if "tier" in shown:
            shown["tier"] = messages.text(f"tier_{shown['tier']}", locale)
        if "skipped" in shown:
            shown["skipped"] = "; ".join(
                messages.text(
                    "skipped_one",
                    locale,
                    tier=messages.text(f"tier_{tier}", locale),
                    name=person.name if person else "",
                    why=messages.text(f"why_{why}", locale),
                ).replace("  ", " ")
                for tier, person, why in values["skipped"]
            )
        if "paged" in shown:
            paged = values["paged"]
            shown["paged"] = ", ".join(p.name for p in paged) if paged else messages.text("nobody", locale)
        return messages.text(key, locale, **shown)

    async def facts(
        self,
        s: AsyncSession,
        alert: Alert,
        subject: Person,
        raised_by: Person | None,
        reader: Reader,
        seen: Summary | None = None,
    ) -> AlertFacts:
        """What staff texts say about `alert`, read for `reader` (how to reach people, in their words)."""
        assert alert.id is not None
        messages = self._content.messages
        family = raised_by is not None and raised_by.id != subject.id
        reach = [(subject.name, await reach_text(s, subject, messages, reader.locale))]
        if family and raised_by is not None:
            reach.append((raised_by.name, await reach_text(s, raised_by, messages, reader.locale)))
        acker = await s.get(Person, alert.acknowledged_by) if alert.acknowledged_by is not None else None
        return AlertFacts(
            alert_id=alert.id,
            severity=alert.severity,
            status=alert.status,
            subject=subject.name,
            role=subject.role,
            reasons=tuple(alert.reasons),
            created_at=alert.created_at,
            raised_by=raised_by.name if family and raised_by is not None else None,
            recent=seen.recent if seen else (),
            streak=seen.streak if seen else 0,
            reach=tuple(reach),
            acknowledged_by=acker.name if acker is not None else None,
            acknowledged_at=alert.acknowledged_at,
        )

    async def _render(
        self, s: AsyncSession, ctx: PageContext, reader: Reader, headers: Sequence[Header]
    ) -> str:
        """The page: why it reached you, who, severity, why, recent check-ins, streak, how to reach them."""
        facts = await self.facts(s, ctx.alert, ctx.subject, ctx.raised_by, reader, ctx.summary)
        return self.staff_texts.page(facts, reader, [self._header(h, reader) for h in headers])

    async def alert_line(
        self, s: AsyncSession, alert: Alert, subject: Person, raised_by: Person | None, reader: Reader
    ) -> str:
        """`🚨 CRITICAL alert #12: Alex (PIR)` and why."""
        return self.staff_texts.alert_line(await self.facts(s, alert, subject, raised_by, reader), reader)
