"""`peerline people import FILE.csv`: many enrolments at once, all or nothing.

Checking is pure (`check_rows`): every row goes through the same checks as `people add` and `assign`
(the `bot.people.enrolment` helpers), against what is enrolled already (`Known`, read once) and against
the rows before it (a phone twice in the file; a peer enrolled a few rows up). Only when every row is
good does `enrol_rows` write them, in bulk, in the caller's one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from bot.content import Messages
from bot.errors import UserError
from bot.local_time import QuietHours, next_due
from bot.outbox.queue import queue_message
from bot.people.audience import audience_text
from bot.people.enrolment import (
    FLOW_FOR_ROLE,
    check_chain,
    check_checkin_time,
    check_credential,
    check_locale,
    check_timezone,
    checked_identities,
)
from bot.people.names import NameMatch, candidates_text, match_name
from flows.numbers import parse_id
from storage.models import (
    AuditAction,
    CareTeam,
    ChannelIdentity,
    CheckinSchedule,
    MessageKind,
    Person,
    Role,
    fold_name,
)
from storage.repo import audit

PERSON_COLUMNS = ("role", "name", "phone", "telegram", "timezone", "locale", "checkin_time", "credential")
TEAM_COLUMNS = ("peer", "backup", "supervisor")
COLUMNS = PERSON_COLUMNS + TEAM_COLUMNS
TEAM_ROLES: Mapping[str, tuple[Role, ...]] = {
    "peer": (Role.PEER,),
    "backup": (Role.PEER, Role.SUPERVISOR),
    "supervisor": (Role.SUPERVISOR,),
}


@dataclass(frozen=True, slots=True)
class Defaults:
    """What `people add` fills in when an option is left out (the program's settings)."""

    timezone: str
    checkin_time: str
    quiet: QuietHours | None


@dataclass(frozen=True, slots=True)
class Known:
    """What is enrolled already: everyone (for names), and every channel address with its owner."""

    people: Sequence[Person]
    taken: Mapping[tuple[str, str], int]


@dataclass(slots=True)
class Row:
    """One good row, in the form stored. A team member is an enrolled person's id, or, negative, the
    line number of a row of this file (`-line`)."""

    line: int
    role: Role
    name: str
    locale: str
    timezone: str
    checkin_time: str
    credential: str | None
    identities: list[tuple[str, str]]
    team: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Report:
    """One row's verdict: `reason` is None when it is good; `id` is set once it is enrolled."""

    line: int
    name: str
    reason: str | None = None
    id: int | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file with their line numbers (the header is line 1). A UserError names any
    column that is not one of `people add`'s options, or a missing `role` / `name`."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise UserError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            f"the columns are {', '.join(COLUMNS)}"
        )
    missing = [c for c in ("role", "name") if c not in header]
    if missing:
        raise UserError(f"the file has no {' or '.join(missing)} column (the first line names the columns)")
    reader.fieldnames = header
    rows = []
    for record in reader:
        values = {k: (v or "").strip() for k, v in record.items() if k is not None}
        if any(values.values()):
            rows.append((reader.line_num, values))
    return rows


def check_rows(
    rows: Sequence[tuple[int, Mapping[str, str]]], known: Known, defaults: Defaults
) -> tuple[list[Row], list[Report]]:
    """Every row checked as `people add` and `assign` would check it; the good rows and one report per
    row. The rows are worth writing only when every report is ok."""
    good: list[Row] = []
    reports: list[Report] = []
    taken: dict[tuple[str, str], str] = {
        key: f"already belongs to person {owner}" for key, owner in known.taken.items()
    }
    pool = Pool()
    for person in known.people:
        pool.add(person)
    for line, values in rows:
        name = values.get("name", "")
        try:
            row = _check_row(line, values, taken, pool, defaults)
        except UserError as exc:
            reports.append(Report(line, name, str(exc)))
            continue
        for key in row.identities:
            taken[key] = f"is also on line {line}"
        pool.add(Person(id=-line, role=row.role, name=row.name, created_at=datetime.min.replace(tzinfo=UTC)))
        good.append(row)
        reports.append(Report(line, row.name))
    return good, reports


def _check_row(
    line: int,
    values: Mapping[str, str],
    taken: Mapping[tuple[str, str], str],
    pool: Pool,
    defaults: Defaults,
) -> Row:
    def given(column: str) -> str | None:
        return values.get(column) or None

    try:
        role = Role(values.get("role", "").casefold())
    except ValueError:
        raise UserError(
            f"bad role {values.get('role', '')!r}: use {', '.join(r.value for r in Role)}"
        ) from None
    name = " ".join(values.get("name", "").split())
    if not name:
        raise UserError("a name is required")
    credential = check_credential(role, given("credential"))
    locale = check_locale(given("locale") or "en")
    timezone = check_timezone(given("timezone") or defaults.timezone)
    identities = checked_identities(telegram=given("telegram"), phone=given("phone"))
    for channel, address in identities:
        if (channel, address) in taken:
            raise UserError(f"{channel} {address} {taken[channel, address]}")
    checkin_time = check_checkin_time(given("checkin_time") or defaults.checkin_time, defaults.quiet)
    row = Row(line, role, name, locale, timezone, checkin_time, credential, identities)
    named = {column: who for column in TEAM_COLUMNS if (who := given(column)) is not None}
    if named and role != Role.PIR:
        raise UserError(f"{', '.join(named)} {'is' if len(named) == 1 else 'are'} for a PIR's care team")
    if named:
        if "peer" not in named:
            raise UserError(f"{name} has no care team yet: give a peer")
        row.team = {column: _find(pool, who, TEAM_ROLES[column]) for column, who in named.items()}
        _check_chain(row.team, pool)
    return row


def _find(pool: Pool, who: str, roles: Collection[Role]) -> int:
    """The id of the person `who` names among `pool`, found as `bot.people.names.resolve` finds them."""
    if (number := parse_id(who)) is not None:
        by_id = pool.by_id.get(number)
        if by_id is None:
            raise UserError(f"no person with id {number}; see `peerline people list`")
        return _with_role(by_id, roles)
    # The first rule of `match_name` (the whole name) from the index, as it almost always decides.
    exact = [p for p in pool.by_name.get(fold_name(who), ()) if p.role in roles]
    match = (
        NameMatch(tuple(exact), 1)
        if exact
        else match_name([p for p in pool.people if p.role in roles], who.split())
    )
    if not match.people:
        match = match_name(pool.people, who.split())
    if match.ambiguous:
        raise UserError(
            f"{who!r} is ambiguous: {candidates_text(match.people)}; use the id or more of the name"
        )
    if match.person is None:
        raise UserError(f"no person named {who!r}, enrolled or on a line above")
    return _with_role(match.person, roles)


@dataclass(slots=True)
class Pool:
    """Whom a team column may name: everyone enrolled and every good row so far, by id and by name."""

    people: list[Person] = field(default_factory=list)
    by_id: dict[int, Person] = field(default_factory=dict)
    by_name: dict[str, list[Person]] = field(default_factory=dict)

    def add(self, person: Person) -> None:
        assert person.id is not None
        self.people.append(person)
        self.by_id[person.id] = person
        self.by_name.setdefault(fold_name(person.name), []).append(person)


def _with_role(person: Person, roles: Collection[Role]) -> int:
    assert person.id is not None
    if person.role not in roles:
        raise UserError(f"{person.name} is a {person.role}, not a {' or '.join(roles)}")
    return person.id


def _check_chain(team: Mapping[str, int], pool: Pool) -> None:
    """`assign`'s rule for the chain (`check_chain`): three different people (checked again when rows are
    written, so a row it refuses there rolls the whole import back)."""
    peer = team["peer"]
    check_chain(peer, team.get("backup"), team.get("supervisor"), peer_name=pool.by_id[peer].name)


async def load_known(s: AsyncSession) -> Known:
    """Everyone enrolled and every address in use, in two queries."""
    everyone = (await s.scalars(select(Person).order_by(col(Person.id)))).all()
    identities = (
        await s.execute(select(ChannelIdentity.channel, ChannelIdentity.address, ChannelIdentity.person_id))
    ).all()
    return Known(everyone, {(channel, address): owner for channel, address, owner in identities})


async def enrol_rows(
    s: AsyncSession,
    now: datetime,
    rows: Sequence[Row],
    *,
    messages: Messages,
    program: str,
    actor: str = "cli",
) -> dict[int, int]:
    """Write checked rows as `people add` and `assign` would, in bulk: people, channel identities and
    check-in schedules, care teams, and the opt-in confirmations; returns each line's new person id."""
    people = [
        Person(
            role=row.role,
            name=row.name,
            locale=row.locale,
            timezone=row.timezone,
            credential=row.credential,
            created_at=now,
        )
        for row in rows
    ]
    s.add_all(people)
    await s.flush()
    ids: dict[int, int] = {}
    identities: dict[int, list[ChannelIdentity]] = {}
    for row, person in zip(rows, people, strict=True):
        assert person.id is not None
        ids[row.line] = person.id
        for channel, address in row.identities:
            # Enrolment by the program records consent to messages (the opt-in confirmation follows).
            identity = ChannelIdentity(
                person_id=person.id, channel=channel, address=address, consent_at=now, created_at=now
            )
            s.add(identity)
            identities.setdefault(person.id, []).append(identity)
        flow = FLOW_FOR_ROLE.get(row.role)
        if flow is not None:
            s.add(
                CheckinSchedule(
                    person_id=person.id,
                    flow_id=flow,
                    local_time=row.checkin_time,
                    next_due_at=next_due(now, row.timezone, row.checkin_time),
                )
            )
        audit(
            s,
            now,
            actor,
            AuditAction.PERSON_CREATED,
            person.id,
            role=str(row.role),
            channels=[c for c, _ in row.identities],
            source="import",
        )
    await s.flush()

    _teams(s, now, rows, ids, actor=actor)
    _opt_ins(s, now, people, identities, messages=messages, program=program)
    audit(s, now, actor, AuditAction.PEOPLE_IMPORTED, None, count=len(rows))
    return ids


def _teams(
    s: AsyncSession, now: datetime, rows: Sequence[Row], ids: Mapping[int, int], *, actor: str
) -> None:
    """The care teams, as `assign` writes a new one (each PIR is new, so there is no team before; the
    chain was checked with `assign`'s rule in `check_rows`)."""

    def member(ref: int | None) -> int | None:
        return None if ref is None else ids[-ref] if ref < 0 else ref

    for row in rows:
        if not row.team:
            continue
        team = CareTeam(
            pir_id=ids[row.line],
            peer_id=member(row.team["peer"]),
            backup_id=member(row.team.get("backup")),
            supervisor_id=member(row.team.get("supervisor")),
            updated_at=now,
        )
        s.add(team)
        audit(
            s,
            now,
            actor,
            AuditAction.CARE_TEAM_ASSIGNED,
            team.pir_id,
            peer=team.peer_id,
            backup=team.backup_id,
            supervisor=team.supervisor_id,
            before=None,
        )


def _opt_ins(
    s: AsyncSession,
    now: datetime,
    people: Sequence[Person],
    identities: Mapping[int, Sequence[ChannelIdentity]],
    *,
    messages: Messages,
    program: str,
) -> None:
    """`confirm_opt_in` for every new PIR and family member, from the identities just written (it would
    read them back one person at a time)."""
    for person in people:
        if person.role not in FLOW_FOR_ROLE:
            continue
        assert person.id is not None
        for identity in identities.get(person.id, ()):
            text = audience_text(
                messages, "opted_in", person.role, identity.channel, person.locale, program=program
            )
            queue_message(s, identity, text, MessageKind.KEYWORD, now)
