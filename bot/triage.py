"""From triage signals to an alert row, the crisis reply and the first page to a human.

The crisis reply never waits on a person: it is queued in the same transaction as the alert, with the
highest priority a reply to the sender can have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.content import Content
from bot.escalation import Escalation
from bot.outbox import queue_message
from flows.severity import Severity
from flows.triage import TriageResult
from storage.models import Alert, AlertStatus, ChannelIdentity, MessageKind, Person, Role
from storage.repo import audit, care_team, reachable_identity

_OVERDOSE = {"overdose", "medical"}


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason to worry: a structured answer rule or a free-text match."""

    severity: Severity
    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    possible: bool = False  # a possible crisis: paged at high, a gentle reply to the person
    about_other: bool = False  # the danger is to someone else than the writer

    @classmethod
    def from_triage(cls, result: TriageResult, text: str) -> Signal:
        phrases = list(dict.fromkeys(m.phrase for m in result.matches if m.phrase))
        said = "wrote " + ", ".join(f'"{p}"' for p in phrases) + ": " if phrases else "wrote: "
        quote = text if len(text) <= 200 else text[:197] + "..."
        notes = []
        if result.possible_crisis:
            notes.append("possible crisis, please read now")
        if result.experiencer == "other":
            notes.append("about someone else")
        prefix = f"({'; '.join(notes)}) " if notes else ""
        return cls(
            result.severity,
            tuple(c for c in result.categories if c != "possible_crisis") or result.categories,
            (f"{prefix}{said}{quote!r}",),
            possible=result.possible_crisis,
            about_other=result.experiencer == "other",
        )


@dataclass(frozen=True, slots=True)
class Raised:
    alert_id: int | None
    severity: Severity
    queued: int


class Alerting:
    """Creates alerts, answers a crisis at once and starts the escalation chain (`bot.escalation`)."""

    def __init__(self, content: Content, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._buttons = buttons
        self._escalation = Escalation(content, buttons)

    def crisis_text(
        self, categories: Sequence[str], locale: str, peer_name: str | None, *, about_other: bool = False
    ) -> str:
        key = (
            "crisis_other" if about_other else "crisis_overdose" if _OVERDOSE & set(categories) else "crisis"
        )
        return self._reply(key, locale, peer_name)

    def possible_crisis_text(self, locale: str, peer_name: str | None, *, about_other: bool = False) -> str:
        return self._reply("possible_crisis_other" if about_other else "possible_crisis", locale, peer_name)

    def _reply(self, key: str, locale: str, peer_name: str | None) -> str:
        """A reply naming the peer who is being told, or "the care team"."""
        messages = self._content.messages
        return messages.text(key, locale, peer=peer_name or messages.text("crisis_no_peer", locale))

    async def notify(
        self, s: AsyncSession, person: Person, text: str, kind: MessageKind, now: datetime
    ) -> int:
        """Queue a message to a staff member on their first reachable channel; returns 1 if queued."""
        assert person.id is not None
        identity = await reachable_identity(s, person.id)
        if identity is None:
            audit(s, now, "system", "notify.unreachable", person.id, kind=str(kind))
            return 0
        return 1 if queue_message(s, identity, text, kind, now) is not None else 0

    @staticmethod
    async def _open_alert(
        s: AsyncSession, person_id: int, raised_by_id: int, severity: Severity
    ) -> Alert | None:
        """The newest unresolved alert about this person, raised by the same person (a family member's
        worry is a source of its own), at least as severe as `severity`; None when there is none."""
        unresolved = (
            await s.scalars(
                select(Alert)
                .where(
                    col(Alert.person_id) == person_id,
                    col(Alert.raised_by_id) == raised_by_id,
                    col(Alert.status) != AlertStatus.RESOLVED,
                )
                .order_by(col(Alert.id).desc())
            )
        ).all()
        return next((a for a in unresolved if Severity(a.severity).rank() >= severity.rank()), None)

    async def raise_alert(
        self,
        s: AsyncSession,
        *,
        subject: Person,
        raised_by: Person,
        signals: Sequence[Signal],
        now: datetime,
        message_id: int | None,
        session_id: int | None,
        reply_to: ChannelIdentity | None,
    ) -> Raised:
        """Record one alert for all signals of a turn; answer a crisis; page the first reachable human."""
        assert subject.id is not None and raised_by.id is not None
        severity = max((sig.severity for sig in signals), key=Severity.rank)
        categories = list(dict.fromkeys(c for sig in signals for c in sig.categories))
        reasons = [r for sig in signals for r in sig.reasons]
        team = await care_team(s, subject.id)
        chain = [team.peer_id, team.backup_id, team.supervisor_id] if team is not None else []
        staff = [p for p in [await s.get(Person, pid) for pid in chain if pid is not None] if p is not None]
        queued = 0
        worst = [sig for sig in signals if sig.severity is severity]
        if severity is Severity.CRITICAL and reply_to is not None:
            peer_name = staff[0].name if staff else None
            about_other = all(sig.about_other for sig in worst)
            text = self.crisis_text(categories, raised_by.locale, peer_name, about_other=about_other)
            if queue_message(s, reply_to, text, MessageKind.CRISIS, now) is not None:
                queued += 1
            audit(s, now, "system", "crisis.replied", raised_by.id, categories=categories)
        elif severity is Severity.HIGH and reply_to is not None and any(sig.possible for sig in worst):
            about_other = raised_by.role == Role.FAMILY or all(sig.about_other for sig in worst)
            text = self.possible_crisis_text(
                raised_by.locale, staff[0].name if staff else None, about_other=about_other
            )
            if queue_message(s, reply_to, text, MessageKind.CRISIS, now) is not None:
                queued += 1
            audit(s, now, "system", "crisis.possible_replied", raised_by.id, categories=categories)
        open_alert = await self._open_alert(s, subject.id, raised_by.id, severity)
        if open_alert is not None and open_alert.id is not None:
            queued += await self._escalation.fold(s, open_alert, categories, reasons, now)
            return Raised(open_alert.id, severity, queued)
        alert = Alert(
            person_id=subject.id,
            raised_by_id=raised_by.id,
            severity=severity,
            categories=categories,
            reasons=reasons,
            source="family" if raised_by.role == Role.FAMILY else "pir",
            message_id=message_id,
            session_id=session_id,
            created_at=now,
        )
        s.add(alert)
        await s.flush()
        assert alert.id is not None
        audit(
            s,
            now,
            "system",
            "alert.created",
            subject.id,
            alert_id=alert.id,
            severity=str(severity),
            categories=categories,
            raised_by=raised_by.id,
        )
        queued += await self._escalation.start(s, alert, now)
        return Raised(alert.id, severity, queued)
