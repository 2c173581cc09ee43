"""Who sees whom in the console: one rule, the same in Python and as a query clause."""

from __future__ import annotations

from sqlmodel import col, select

from bot.app import App
from bot.people.enrolment import add_person
from bot.web.scope import scope_of
from storage.models import CareTeam, Person, Role
from tests.bot.careteam import Driver

TEAM = CareTeam(pir_id=1, peer_id=10, backup_id=11, supervisor_id=12, updated_at=None)  # type: ignore[arg-type]


def test_a_peer_sees_the_pirs_they_are_peer_or_backup_of() -> None:
    assert scope_of(Role.PEER, 10).sees(TEAM)
    assert scope_of(Role.PEER, 11).sees(TEAM)
    assert not scope_of(Role.PEER, 12).sees(TEAM)  # a peer in the supervisor seat: not by that seat
    assert not scope_of(Role.PEER, 13).sees(TEAM)
    assert not scope_of(Role.PEER, 10).sees(None)


def test_a_supervisor_also_sees_whom_they_supervise_and_an_admin_everyone() -> None:
    assert scope_of(Role.SUPERVISOR, 12).sees(TEAM)
    assert scope_of(Role.SUPERVISOR, 11).sees(TEAM)
    assert not scope_of(Role.SUPERVISOR, 13).sees(TEAM)
    assert scope_of(Role.ADMIN, 99).sees(TEAM)
    assert scope_of(Role.ADMIN, 99).sees(None)  # a PIR with no team yet


def test_pirs_and_family_see_nobody() -> None:
    assert not scope_of(Role.PIR, 10).sees(TEAM)
    assert not scope_of(Role.FAMILY, 11).sees(TEAM)


async def test_the_query_clause_decides_as_sees_does(app: App, drive: Driver) -> None:
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.ADMIN, name="Ada", console="ada")
        await add_person(s, app.clock.now(), role=Role.PIR, name="Noteam", console="noteam")
    async with app.db.transaction() as s:
        people = (await s.scalars(select(Person))).all()
        teams = {t.pir_id: t for t in (await s.scalars(select(CareTeam))).all()}
        pirs = [p for p in people if p.role == Role.PIR]
        seen_by = {}
        for staff in people:
            assert staff.id is not None
            scope = scope_of(staff.role, staff.id)
            in_python = {p.name for p in pirs if scope.sees(teams.get(p.id))}
            query = (
                select(Person.name)
                .outerjoin(CareTeam, col(CareTeam.pir_id) == col(Person.id))
                .where(col(Person.role) == Role.PIR, scope.clause())
            )
            assert set((await s.scalars(query)).all()) == in_python, staff.name
            seen_by[staff.name] = in_python
    assert seen_by["Sam"] == seen_by["Riley"] == seen_by["Dana"] == {"Alex"}
    assert seen_by["Pat"] == seen_by["Alex"] == seen_by["Jordan"] == set()
    assert seen_by["Ada"] == {"Alex", "Noteam"}
