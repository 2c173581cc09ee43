"""What peers and supervisors read about an alert or a PIR, written for the reader and their channel.

Pure: the facts are read from the database first (`AlertFacts`, `CaseloadRow`), then written here, so
the message catalogue renders the very same texts from sample facts.

Over SMS a staff text is plain GSM-7 (an emoji turns a whole message into UCS-2, 67 characters a
segment instead of 153), an alert page fits two segments (what does not fit is one `MORE <id>` away,
never cut from the who, the how to reach and the commands), and CASELOAD comes in pages led by whoever
needs attention. People are named, never numbered: alert numbers are what ACK and DONE take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from bot.content import Content
from bot.staff.caseload import Checkin, answer_text
from bot.staff.reader import Reader, when
from flows.sms_text import MAX_SEGMENTS, MAX_SEPTETS, cut_to_septets, segments, septets

ICONS = {"critical": "🚨", "high": "⚠️", "medium": "ℹ️"}
GRAVITY = {"critical": 0, "high": 1, "medium": 2}
PAGE_ANSWER_CHARS = 40  # a free-text answer quoted on a page; HISTORY and MORE show more
MORE_CHECKINS = 5


class Fit(IntEnum):
    """How a line of an SMS page gives way when the page is too long."""

    KEEP = 0  # never shortened: who, the headers, how to reach them, the commands
    CUT = 1  # shortened to what fits (why)
    DROP = 2  # left out, the last of them first (check-ins, the streak)


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """What staff texts say about one alert, read from storage up front."""

    alert_id: int
    severity: str
    status: str
    subject: str  # the PIR's name
    role: str
    reasons: tuple[str, ...]
    created_at: datetime
    raised_by: str | None = None  # a family member who raised it
    recent: tuple[Checkin, ...] = ()  # newest first
    streak: int = 0
    reach: tuple[tuple[str, str], ...] = ()  # (name, how to reach them)
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    """One PIR on a staff member's caseload."""

    name: str
    last: Checkin | None
    streak: int
    latest: dict[str, Any] = field(default_factory=dict)
    alerts: tuple[tuple[int, str], ...] = ()  # (alert number, severity), newest first
    role: str = ""  # "" (their peer), "backup" or "supervisor"
    paused: bool = False

    @property
    def needs_attention(self) -> bool:
        """An open alert, or a last check-in missed or left unfinished."""
        return bool(self.alerts) or (self.last is not None and self.last.status != "completed")

    def rank(self) -> tuple[int, int, str]:
        gravest = min((GRAVITY.get(severity, 3) for _, severity in self.alerts), default=4)
        missed = 0 if self.last is not None and self.last.status != "completed" else 1
        return (gravest, missed, self.name.casefold())


class StaffTexts:
    """Staff texts from the program's message templates and flow labels."""

    def __init__(self, content: Content) -> None:
        self._content = content

    # -- words --------------------------------------------------------------------------------------

    def text(self, key: str, reader: Reader, **values: Any) -> str:
        return reader.shape(self._content.messages.text(key, reader.locale, **values))

    def _raw(self, key: str, reader: Reader, **values: Any) -> str:
        return self._content.messages.text(key, reader.locale, **values)

    def severity(self, severity: str, reader: Reader) -> str:
        """'CRITICAL', 'CRÍTICA': the severity as a word of the reader's language."""
        return self._raw(f"severity_{severity}", reader) if severity in GRAVITY else severity.upper()

    def category(self, category: str, reader: Reader) -> str:
        """'craving above the usual' for `craving_spike`: what a category id means, in words."""
        key = f"category_{category}"
        if key in self._content.messages.by_locale["en"]:
            return self._raw(key, reader)
        return category.replace("_", " ")

    def label(self, flow_id: str, step_id: str, reader: Reader) -> str:
        """What staff call a check-in question: its label in the flow, never its id."""
        flows = self._content.flows
        candidates = [flows[flow_id]] if flow_id in flows else list(flows.values())
        for flow in candidates:
            for step in flow.steps:
                if step.id == step_id:
                    return step.label_in(reader.locale)
        return step_id.replace("_", " ")

    def checkin(self, checkin: Checkin, reader: Reader, *, time: bool = False, chars: int = 60) -> str:
        """'Mon 2 Mar: mood 2, craving 9, used since last check-in: yes' (or 'Mon 2 Mar: missed')."""
        day = when(checkin.at, reader, time=time)
        if checkin.status == "missed":
            return f"{day}: {self._raw('checkin_missed', reader)}"
        parts = []
        for step, value in checkin.answers.items():
            said = answer_text(value, self._content.messages, reader.locale, chars=chars)
            name = self.label(checkin.flow_id, step, reader)
            scale = isinstance(value, int) and not isinstance(value, bool)
            parts.append(f"{name} {said}" if scale else f"{name}: {said}")
        if checkin.status == "partial":
            parts.append(self._raw("checkin_partial", reader))
        return f"{day}: {', '.join(parts)}"

    # -- alerts -------------------------------------------------------------------------------------

    def headline(self, facts: AlertFacts, reader: Reader) -> str:
        """'🚨 CRITICAL alert #12: Alex (PIR)' (no icon over SMS)."""
        return reader.shape_page(
            self._raw(
                "alert_family" if facts.raised_by else "alert",
                reader,
                icon="" if reader.sms else ICONS.get(facts.severity, ""),
                severity=self.severity(facts.severity, reader),
                alert_id=facts.alert_id,
                name=facts.subject,
                role=facts.role.upper(),
                raised_by=facts.raised_by or "",
            )
        )

    def why(self, reasons: Sequence[str], reader: Reader) -> str:
        return self._raw("alert_why", reader, reasons="; ".join(reasons))

    def alert_line(self, facts: AlertFacts, reader: Reader) -> str:
        """The headline and why, as a digest lists an alert."""
        return reader.shape("\n".join((self.headline(facts, reader), self.why(facts.reasons, reader))))

    def _reach(self, facts: AlertFacts, reader: Reader) -> list[str]:
        return [self._raw("alert_reach", reader, name=name, how=how) for name, how in facts.reach]

    def _actions(self, facts: AlertFacts, reader: Reader) -> str:
        key = "alert_actions_buttons" if reader.buttons else "alert_actions_text"
        return self._raw(key, reader, alert_id=facts.alert_id, name=facts.subject)

    def page(self, facts: AlertFacts, reader: Reader, headers: Sequence[str] = ()) -> str:
        """The page: why it reached you, who, how grave, why, recent check-ins, streak, how to reach
        them and what to reply. Over SMS within two GSM-7 segments."""
        recent = [self.checkin(c, reader, chars=PAGE_ANSWER_CHARS) for c in facts.recent]
        if not recent:
            checkins = [self._raw("alert_no_checkins", reader)]
        elif reader.sms:  # one a line, so the oldest can give way first
            checkins = [self._raw("alert_checkin_sms", reader, checkin=line) for line in recent]
        else:
            checkins = [self._raw("alert_checkins", reader, checkins="; ".join(recent))]
        parts: list[tuple[str, Fit]] = [
            *((h, Fit.KEEP) for h in headers if h),
            (self.headline(facts, reader), Fit.KEEP),
            (self.why(facts.reasons, reader), Fit.CUT),
            *((line, Fit.DROP) for line in checkins),
            (self._raw("alert_streak", reader, streak=facts.streak), Fit.DROP),
            *((line, Fit.KEEP) for line in self._reach(facts, reader)),
            (self._actions(facts, reader), Fit.KEEP),
        ]
        if not reader.sms:
            return "\n".join(text for text, _ in parts)
        return fit_page([(reader.shape_page(text), fit) for text, fit in parts])

    def full(self, facts: AlertFacts, reader: Reader) -> str:
        """MORE: the whole alert, every reason, the last check-ins with their times, who has it."""
        status = self._raw(f"status_{facts.status}", reader)
        lines = [
            self.headline(facts, reader),
            self._raw("more_status", reader, status=status, at=when(facts.created_at, reader, time=True)),
        ]
        if facts.acknowledged_by and facts.acknowledged_at is not None:
            at = when(facts.acknowledged_at, reader, time=True)
            lines.append(self._raw("more_acknowledged", reader, who=facts.acknowledged_by, at=at))
        lines.append(self._raw("more_why", reader))
        lines += [f"- {reason}" for reason in facts.reasons]
        if facts.recent:
            lines.append(self._raw("more_checkins", reader))
            lines += [f"- {self.checkin(c, reader, time=True, chars=160)}" for c in facts.recent]
        else:
            lines.append(self._raw("alert_no_checkins", reader))
        lines.append(self._raw("alert_streak", reader, streak=facts.streak))
        lines += self._reach(facts, reader)
        if facts.status != "resolved":
            lines.append(self._actions(facts, reader))
        return reader.shape("\n".join(lines))

    def digest(self, items: Sequence[tuple[AlertFacts, str]], reader: Reader, *, footer: str) -> str:
        """The digest of medium alerts: each with its headline and why (and who has it, if anyone)."""
        header = self._raw("digest_header", reader, count=len(items))
        lines = [f"{self.alert_line(facts, reader)}{' ' + note if note else ''}" for facts, note in items]
        if not reader.sms:
            return "\n".join([header, *lines, footer])
        return fit_list(
            reader.shape(header),
            [reader.shape(line) for line in lines],
            reader.shape(footer),
            lambda left: reader.shape(self._raw("digest_more", reader, count=left)),
        )

    # -- caseload -----------------------------------------------------------------------------------

    def caseload_line(self, row: CaseloadRow, reader: Reader) -> str:
        """One PIR: last check-in, streak, latest mood and craving, open alerts, paused or not."""
        if row.last is None:
            last = self._raw("never", reader)
        else:
            last = when(row.last.at, reader)
            if row.last.status != "completed":
                last += f" ({self._raw('checkin_' + row.last.status, reader)})"
        alerts = ", ".join(f"#{number} {self.severity(sev, reader)}" for number, sev in row.alerts)
        role = f" {self._raw('caseload_as_' + row.role, reader)}" if row.role else ""
        mood, craving = row.latest.get("mood", "-"), row.latest.get("craving", "-")
        if reader.sms:  # every septet counts: what is unknown or none is left out
            shown = f"{alerts}; " if alerts else ""
            line = self._raw(
                "caseload_line_sms",
                reader,
                name=row.name,
                role=role,
                alerts=shown,
                last=last,
                streak=row.streak,
            )
            if "mood" in row.latest or "craving" in row.latest:
                line += self._raw("caseload_scales_sms", reader, mood=mood, craving=craving)
        else:
            line = self._raw(
                "caseload_line",
                reader,
                name=row.name,
                role=role,
                last=last,
                streak=row.streak,
                mood=mood,
                craving=craving,
                alerts=alerts or self._raw("none", reader),
            )
        if row.paused:
            line += " " + self._raw("caseload_paused", reader)
        return reader.shape(line)

    def _on_track(self, row: CaseloadRow, reader: Reader) -> str:
        role = f" {self._raw('caseload_as_' + row.role, reader)}" if row.role else ""
        paused = f" {self._raw('caseload_paused', reader)}" if row.paused else ""
        return reader.shape(
            self._raw("caseload_ok_sms", reader, name=row.name, streak=row.streak) + role + paused
        )

    def caseload(self, rows: Sequence[CaseloadRow], reader: Reader, page: int = 1) -> str:
        """CASELOAD, who needs attention first. On Telegram the whole list; over SMS pages of two
        segments: whoever needs attention line by line, then the rest by name, and what to send next."""
        ordered = sorted(rows, key=CaseloadRow.rank)
        attention = [row for row in ordered if row.needs_attention]
        if not reader.sms:
            header = self._raw("caseload_header", reader, count=len(rows), attention=len(attention))
            return "\n".join([header, *(self.caseload_line(row, reader) for row in ordered)])
        pages = page_caseload(
            [self.caseload_line(row, reader) for row in attention],
            [self._on_track(row, reader) for row in ordered if not row.needs_attention],
            reader.shape(self._raw("caseload_ok_head_sms", reader)),
            lambda n, of: reader.shape(
                self._raw(
                    "caseload_header_sms", reader, count=len(rows), attention=len(attention), page=n, pages=of
                )
            ),
            lambda n: reader.shape(self._raw("caseload_next", reader, page=n)),
        )
        if not 1 <= page <= len(pages):
            return reader.shape(self._raw("caseload_no_page", reader, page=page, pages=len(pages)))
        return pages[page - 1]


# -- fitting text into two segments --------------------------------------------------------------


def _fits(text: str) -> bool:
    return segments(text) <= MAX_SEGMENTS


def fit_page(parts: Sequence[tuple[str, Fit]]) -> str:
    """Lines of a GSM-7 page made to fit two segments: droppable lines go, the last first, then the
    line that may be cut is cut to what is left. Lines that must stay always stay."""
    kept = [(text, fit) for text, fit in parts if text]
    while not _fits("\n".join(t for t, _ in kept)):
        droppable = [i for i, (_, fit) in enumerate(kept) if fit is Fit.DROP]
        if not droppable:
            break
        del kept[droppable[-1]]
    text = "\n".join(t for t, _ in kept)
    if _fits(text):
        return text
    for i, (line, fit) in enumerate(kept):
        if fit is not Fit.CUT:
            continue
        others = septets("\n".join(t for j, (t, _) in enumerate(kept) if j != i)) + 1
        room = MAX_SEPTETS - others
        while room > 0:
            kept[i] = (cut_to_septets(line, room), fit)
            text = "\n".join(t for t, _ in kept if t)
            if _fits(text):
                return text
            room -= 2  # an escape pair never splits across segments: give it room
        kept[i] = ("", fit)
    return "\n".join(t for t, _ in kept if t)


def fit_list(header: str, lines: Sequence[str], footer: str, more: Callable[[int], str]) -> str:
    """Header, as many lines as fit in two segments, 'and N more' when some did not, and the footer."""
    for count in range(len(lines), 0, -1):
        left = len(lines) - count
        text = "\n".join([header, *lines[:count], *([more(left)] if left else []), footer])
        if _fits(text):
            return text
    return "\n".join([header, more(len(lines)), footer])


def page_caseload(
    lines: Sequence[str],
    names: Sequence[str],
    names_head: str,
    header: Callable[[int, int], str],
    next_page: Callable[[int], str],
) -> list[str]:
    """Pages of two segments each: 'header(n, of)', then `lines` one a line, then `names` run together
    after `names_head`, and 'next_page(n + 1)' on every page but the last."""

    def fits(page: list[str]) -> bool:
        return _fits("\n".join([header(99, 99), *page, next_page(99)]))

    groups: list[list[str]] = [[]]
    for line in lines:
        if groups[-1] and not fits([*groups[-1], line]):
            groups.append([])
        groups[-1].append(line)
    running = False  # the page's last line is a run of names
    for name in names:
        page = groups[-1]
        trial = [*page[:-1], f"{page[-1]}, {name}"] if running else [*page, f"{names_head} {name}"]
        if page and not fits(trial):
            groups.append([f"{names_head} {name}"])
        else:
            groups[-1] = trial
        running = True
    count = len(groups)
    return [
        "\n".join([header(n, count), *group, *([next_page(n + 1)] if n < count else [])])
        for n, group in enumerate(groups, 1)
    ]
