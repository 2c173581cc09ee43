"""From triage signals to an alert row, the crisis reply and the first page to a human.

The crisis reply never waits on a person: it is queued in the same transaction as the alert, with the
highest priority a reply to the sender can have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.alerts.lifecycle import Escalation
from bot.content import Content
from bot.outbox.queue import queue_message
from flows.severity import Severity
from flows.triage import TriageResult, normalize
from storage.models import Alert, AlertStatus, AuditAction, ChannelIdentity, MessageKind, Person, Role
from storage.repo import audit, reachable_identity

_OVERDOSE = {"overdose", "medical"}


@dataclass(frozen=True, slots=True)
class Signal:
    """One reason to worry: a structured answer rule or a free-text match."""

    severity: Severity
    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    possible: bool = False  # a possible crisis: paged at high, a gentle reply to the person
    about_other: bool = False  # the danger is to someone else than the writer
    unclear: bool = False  # an answer to the safety question that was not a clear no
    written: bool = False  # read in what the person wrote (triage), not from a structured answer

    @classmethod
    def from_triage(cls, result: TriageResult, text: str) -> Signal:
        quote = text.strip()
        quote = quote if len(quote) <= 200 else quote[:197] + "..."
        # The words that matched, each once, unless they are what the person wrote in the first place.
        phrases = _distinct(m.phrase for m in result.matches if m.phrase)
        phrases = [p for p in phrases if _bare(p) != _bare(quote)]
        said = f'wrote "{quote}"' + (f" ({', '.join(phrases)})" if phrases else "")
        notes = []
        if result.possible_crisis:
            notes.append("possible crisis, please read now")
        elif "possible_risk" in result.categories:
            notes.append("use or safety in words the rules do not know, please read")
        if result.experiencer == "other":
            notes.append("about someone else")
        prefix = f"({'; '.join(notes)}) " if notes else ""
        return cls(
            result.severity,
            tuple(c for c in result.categories if c != "possible_crisis") or result.categories,
            (f"{prefix}{said}",),
            possible=result.possible_crisis,
            about_other=result.experiencer == "other",
            written=True,
        )


def _bare(text: str) -> str:
    return " ".join(re.sub(r"[^\w']+", " ", normalize(text)).split())


def _distinct(phrases: Iterable[str]) -> list[str]:
    """Each phrase once (case and punctuation aside), and none already inside a longer one."""
    kept: dict[str, str] = {}
    for phrase in phrases:
        kept.setdefault(_bare(phrase), phrase.strip())
    return [p for key, p in kept.items() if not any(key != other and key in other for other in kept)]


@dataclass(frozen=True, slots=True)
class Raised:
    alert_id: int | None
    severity: Severity
    queued: int
    reached: Person | None = None  # who was paged or told (or, for a held page, will be)


class Alerting:
    """Creates alerts, starts the escalation chain (`bot.alerts.lifecycle`) and answers the person at once.

    The answer is queued in the same transaction as the alert and the first page, and says who is being
    reached only when a page to that person was queued (or, for a page held while a check-in finishes,
    when that person can be reached): nothing the bot promises is left unkept.
    """

    def __init__(self, content: Content, buttons: Mapping[str, bool]) -> None:
        self._content = content
        self._buttons = buttons
        self._escalation = Escalation(content, buttons)

    @property
    def escalation(self) -> Escalation:
        return self._escalation

    def reply_text(
        self, signals: Sequence[Signal], raised_by: Person, reached: Person | None, subject: Person
    ) -> str | None:
        """What the person who wrote gets back for these signals, or None (nothing to say)."""
        key = reply_key(signals, family=raised_by.role == Role.FAMILY)
        if key is None:
            return None
        messages = self._content.messages
        locale = raised_by.locale
        return messages.text(key, locale, promise=self.promise(locale, reached, subject, raised_by))

    def promise(self, locale: str, reached: Person | None, subject: Person, raised_by: Person) -> str:
        """ "I'm contacting your peer Sam right now." only when Sam was paged; "" when nobody was."""
        messages = self._content.messages
        if reached is None:
            return ""
        if reached.role != Role.PEER:  # a supervisor, the on-call: the team, not a name they don't know
            return messages.text("promise_team", locale)
        if raised_by.role == Role.FAMILY:
            return messages.text("promise_peer_family", locale, peer=reached.name, pir=subject.name)
        return messages.text("promise_peer", locale, peer=reached.name)

    async def notify(
        self, s: AsyncSession, person: Person, text: str, kind: MessageKind, now: datetime
    ) -> int:
        """Queue a message to a staff member on their first reachable channel; returns 1 if queued."""
        assert person.id is not None
        identity = await reachable_identity(s, person.id)
        if identity is None:
            audit(s, now, "system", AuditAction.NOTIFY_UNREACHABLE, person.id, kind=str(kind))
            return 0
        return 1 if queue_message(s, identity, text, kind, now) is not None else 0

    @staticmethod
    async def _open_alert(
        s: AsyncSession, person_id: int, raised_by_id: int, severity: Severity, session_id: int | None
    ) -> tuple[Alert | None, Alert | None]:
        """The newest unresolved alert about this person, raised by the same person (a family member's
        worry is a source of its own), at least as severe as `severity`; and an alert of the same
        check-in, less severe, whose first page still waits (raised to this severity instead of paging
        twice: one check-in, one page)."""
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
        graver = next((a for a in unresolved if Severity(a.severity).rank() >= severity.rank()), None)
        held = next(
            (
                a
                for a in unresolved
                if session_id is not None
                and a.session_id == session_id
                and a.status == AlertStatus.OPEN
                and a.escalation_level == 0
                and not a.notified
            ),
            None,
        )
        return graver, held

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
        hold_until: datetime | None = None,
    ) -> Raised:
        """Record one alert for all signals of a turn, page the first reachable human, answer the person.

        `hold_until` (a check-in still under way): the first page waits for the check-in to finish, so
        one check-in makes one page; never for a crisis or a possible crisis, which also release a page
        held before them.
        """
        assert subject.id is not None and raised_by.id is not None
        severity = max((sig.severity for sig in signals), key=Severity.rank)
        categories = list(dict.fromkeys(c for sig in signals for c in sig.categories))
        reasons = list(dict.fromkeys(r for sig in signals for r in sig.reasons))
        if severity is Severity.CRITICAL or any(sig.possible for sig in signals):
            hold_until = None  # a crisis, or a possible one, never waits
        open_alert, held = await self._open_alert(s, subject.id, raised_by.id, severity, session_id)
        if open_alert is not None:
            alert = open_alert
            told = await self._escalation.fold(s, alert, categories, reasons, now)
            if hold_until is None and not told.paged:
                told = await self._escalation.release(s, alert, now)  # held, and this cannot wait
            queued = told.queued
            reached = told.paged[0] if told.paged else await self._already_reached(s, alert)
        else:
            if held is not None:
                # A check-in's page still held, now graver: the same alert, raised, and paged as such.
                alert = held
                await self._escalation.fold(s, alert, categories, reasons, now)
                alert.severity = severity
                action = AuditAction.ALERT_RAISED
            else:
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
                action = AuditAction.ALERT_CREATED
            audit(
                s,
                now,
                "system",
                action,
                subject.id,
                alert_id=alert.id,
                severity=str(severity),
                categories=categories,
                raised_by=raised_by.id,
            )
            started = await self._escalation.start(s, alert, now, hold_until=hold_until)
            queued = started.queued
            if started.held:
                reached = await self._escalation.would_reach(s, alert)
            else:
                reached = started.paged[0] if started.paged else None
        if reply_to is not None:
            text = self.reply_text(signals, raised_by, reached, subject)
            if text is not None and queue_message(s, reply_to, text, MessageKind.CRISIS, now) is not None:
                queued += 1
                action = (
                    AuditAction.CRISIS_REPLIED if severity is Severity.CRITICAL else AuditAction.ALERT_REPLIED
                )
                audit(
                    s,
                    now,
                    "system",
                    action,
                    raised_by.id,
                    categories=categories,
                    promised=reached is not None,
                )
        assert alert.id is not None
        return Raised(alert.id, severity, queued, reached)

    async def _already_reached(self, s: AsyncSession, alert: Alert) -> Person | None:
        """Who already has this open alert: its acknowledger, or the first person paged about it; for
        an alert whose first page is still held, whoever that page will reach."""
        for person_id in [alert.acknowledged_by, *alert.notified]:
            person = await s.get(Person, person_id) if person_id is not None else None
            if person is not None:
                return person
        if alert.status == AlertStatus.OPEN and alert.escalation_level == 0:
            return await self._escalation.would_reach(s, alert)
        return None


def reply_key(signals: Sequence[Signal], *, family: bool) -> str | None:
    """Which reply the writer gets for the gravest of these signals (a message key), or None.

    - critical: the crisis reply (988, 911; overdose guidance; for someone else, third person); an
      unclear answer to the safety question gets a gentler follow-up that still gives 988;
    - a possible crisis: a short warm reply with 988, assuming nothing;
    - use disclosed (or reported by a family member): warmth and overdose-risk guidance;
    - any other high alert (intent to use, an unsafe home, what only the model read) raised from what
      the person wrote: thanks, who is told (only when true), 911 and 988; never silence;
    - anything else (cravings, trends, a worried family member's answer): the flow's own words.
    """
    if not signals:
        return None
    severity = max((sig.severity for sig in signals), key=Severity.rank)
    worst = [sig for sig in signals if sig.severity is severity]
    other = family or all(sig.about_other for sig in worst)
    categories = {c for sig in worst for c in sig.categories}
    if severity is Severity.CRITICAL:
        if all(sig.unclear for sig in worst):
            return "safety_unclear"
        if other:
            return "crisis_other"
        return "crisis_overdose" if _OVERDOSE & categories else "crisis"
    if severity is Severity.HIGH and any(sig.possible for sig in worst):
        return "possible_crisis_other" if other else "possible_crisis"
    if severity is Severity.HIGH and "use" in {c for sig in signals for c in sig.categories}:
        return "use_support_other" if other else "use_support"
    if severity is Severity.HIGH and any(sig.written for sig in worst):
        return "alert_support_other" if other else "alert_support"
    return None
