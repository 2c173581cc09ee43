"""Which PIRs a staff member may see in the console: the one decision, and its form as a query clause.

A peer sees the PIRs whose peer or backup they are; a supervisor also those they supervise; an admin
everyone. Anyone else (a PIR, a family member) sees nobody. Out of scope is answered as not found.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import false, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from storage.models import CareTeam, Role

_SEATS: dict[str, tuple[str, ...]] = {
    Role.PEER: ("peer_id", "backup_id"),
    Role.SUPERVISOR: ("peer_id", "backup_id", "supervisor_id"),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Everyone, or the PIRs whose care team has `staff_id` in one of `seats`."""

    staff_id: int
    everyone: bool = False
    seats: tuple[str, ...] = ()

    def sees(self, team: CareTeam | None) -> bool:
        if self.everyone:
            return True
        return team is not None and any(getattr(team, seat) == self.staff_id for seat in self.seats)

    def clause(self) -> ColumnElement[bool]:
        """The same decision over `CareTeam` rows in a query (an admin's also needs no team at all)."""
        if self.everyone:
            return true()
        return or_(false(), *(col(getattr(CareTeam, seat)) == self.staff_id for seat in self.seats))


def scope_of(role: str, staff_id: int) -> Scope:
    """The one rule of who sees whom."""
    if role == Role.ADMIN:
        return Scope(staff_id, everyone=True)
    return Scope(staff_id, seats=_SEATS.get(role, ()))
