"""The life of an enrolment (bot.people.life): edits, discharge and re-admission, caseload transfer, on
the care-team program of tests.bot.careteam (Alex, Sam, Riley, Dana, Jordan, Pat), SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.errors import UserError
from bot.people.enrolment import resolve
from bot.people.life import Edit, discharge, edit_person, readmit, transfer_caseload
from flows.severity import Severity
from storage.models import (
    AlertStatus,
    CareTeam,
    ChannelIdentity,
    CheckinSchedule,
    ConsentState,
    FamilyLink,
    PersonStatus,
)
from tests.bot.careteam import ALEX_PHONE, Driver, load_alert, raise_alert


async def _edit(drive: Driver, who: str, edit: Edit) -> list[str]:
    app = drive.app
    async with app.db.transaction() as s:
        _, changed = await edit_person(
            s, app.content.messages, app.clock.now(), who, edit, quiet=app.settings.quiet_window, program="P"
        )
    await app.sender.drain()
    return changed


async def test_edit_changes_details_and_a_new_number_is_a_new_opt_in(drive: Driver) -> None:
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        (sms,) = (
            await s.scalars(
                select(ChannelIdentity).where(
                    col(ChannelIdentity.person_id) == alex.id, col(ChannelIdentity.channel) == "sms"
                )
            )
        ).all()
        sms.opted_out_at = drive.clock.now()  # the old number sent STOP
    changed = await _edit(
        drive, "Alex", Edit(name="Alex Rivera", phone="+1 415 555 0199", timezone="America/Chicago")
    )
    assert changed == ["name", "phone", "timezone"]
    async with drive.app.db.transaction() as s:
        alex = await resolve(s, "alex rivera")  # found by the new name
        assert alex.timezone == "America/Chicago"
        sms = (
            await s.scalars(
                select(ChannelIdentity).where(
                    col(ChannelIdentity.person_id) == alex.id, col(ChannelIdentity.channel) == "sms"
                )
            )
        ).one()
        assert sms.address == "+14155550199" and sms.address != ALEX_PHONE
        assert sms.opted_out_at is None  # a new number: the old STOP does not silence it
        (schedule,) = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
        ).all()
        assert schedule.next_due_at is not None
        due = schedule.next_due_at
    await _edit(drive, "Alex Rivera", Edit(checkin_time="10:30"))
    async with drive.app.db.transaction() as s:
        schedule = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
        ).one()
        assert schedule.local_time == "10:30" and schedule.next_due_at != due


@pytest.mark.parametrize(
    ("who", "edit", "message"),
    [
        ("Alex", Edit(), "nothing to change"),
        ("Alex", Edit(name=" "), "--name is empty"),
        ("Alex", Edit(phone="+1 202 555 01"), "phone"),
        ("Alex", Edit(timezone="Mars/Olympus"), "Mars/Olympus"),
        ("Alex", Edit(locale="fr"), "bad locale 'fr'"),
        ("Alex", Edit(credential="CPRS"), "--credential is for staff"),
        ("Sam", Edit(checkin_time="10:00"), "has no check-in time"),
        ("Alex", Edit(checkin_time="23:30"), "inside quiet hours"),
    ],
)
async def test_edit_refuses_what_enrolment_refuses(drive: Driver, who: str, edit: Edit, message: str) -> None:
    with pytest.raises(UserError, match=message):
        await _edit(drive, who, edit)


async def test_an_address_someone_else_has_is_refused(drive: Driver) -> None:
    await _edit(drive, "Jordan", Edit(phone="+1 202 555 0147"))
    with pytest.raises(UserError, match="already belongs to person"):
        await _edit(drive, "Alex", Edit(phone="+1 202 555 0147"))


async def test_discharge_stops_checkins_ends_consents_and_readmit_resumes(drive: Driver) -> None:
    app = drive.app
    alert_id = await raise_alert(app, Severity.HIGH)
    drive.inbox()
    async with app.db.transaction() as s:
        done = await discharge(s, app.content.messages, app.clock.now(), "Alex", reason="moved away")
    await app.sender.drain()
    assert (done.consents_ended, done.open_alerts) == (1, [alert_id])
    # Jordan's weekly status ends with the consent, and Jordan is told: nothing more about Alex.
    assert drive.inbox() == {"jordan": ["Updates about Alex have stopped. Your own check-ins and messages to"
                                        " the team continue as before."]}  # fmt: skip
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        assert (alex.status, alex.discharge_reason) == (PersonStatus.DISCHARGED, "moved away")
        schedule = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
        ).one()
        assert schedule.next_due_at is None
        (link,) = (await s.scalars(select(FamilyLink))).all()
        assert link.state == ConsentState.ENDED
    report = await drive.at(60 * 24 * 2)  # two days: no check-in for Alex
    assert report.started == 1  # Jordan's own check-in goes on
    assert (await load_alert(app, alert_id)).status == AlertStatus.OPEN  # still someone's to resolve
    with pytest.raises(UserError, match="already discharged"):
        async with app.db.transaction() as s:
            await discharge(s, app.content.messages, app.clock.now(), "Alex", reason=None)
    async with app.db.transaction() as s:
        await readmit(s, app.clock.now(), "Alex")
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        schedule = (
            await s.scalars(select(CheckinSchedule).where(col(CheckinSchedule.person_id) == alex.id))
        ).one()
        assert alex.status == PersonStatus.ACTIVE and schedule.next_due_at is not None
        (link,) = (await s.scalars(select(FamilyLink))).all()
        assert link.state == ConsentState.ENDED  # asked again with `family link`, never revived
    with pytest.raises(UserError, match="not discharged"):
        async with app.db.transaction() as s:
            await readmit(s, app.clock.now(), "Alex")


async def test_a_peer_still_on_a_team_is_not_discharged(drive: Driver) -> None:
    with pytest.raises(UserError, match="caseload transfer --from Sam"):
        async with drive.app.db.transaction() as s:
            await discharge(s, drive.app.content.messages, drive.clock.now(), "Sam", reason=None)


async def test_transfer_moves_the_caseload_reopens_held_alerts_and_tells_both_peers(drive: Driver) -> None:
    app = drive.app
    alert_id = await raise_alert(app, Severity.HIGH)
    await drive.say("sam", f"ACK {alert_id}")
    drive.inbox()
    async with app.db.transaction() as s:
        done = await transfer_caseload(s, app.content.messages, app.clock.now(), "Sam", "Pat")
    await app.sender.drain()
    assert ([p.name for p in done.pirs], done.reopened) == (["Alex"], [alert_id])
    got = drive.inbox()
    assert got["sam"] == ["Your caseload of 1 (Alex) is now with Pat. Thank you for your work with them."]
    assert got["pat"] == ["Now on your caseload, from Sam (1): Alex. Open alerts about them will page you."]
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        team = await s.get(CareTeam, alex.id)
        assert team is not None and team.peer_id == done.target.id and team.backup_id is not None
    alert = await load_alert(app, alert_id)
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.OPEN, None)
    await drive.at(1)  # the next tick pages the new team: Pat, not Sam
    got = drive.inbox()
    assert "pat" in got and "sam" not in got and f"alert #{alert_id}" in got["pat"][0]


async def test_transfer_to_the_backup_leaves_no_backup_rather_than_one_person_twice(drive: Driver) -> None:
    async with drive.app.db.transaction() as s:
        done = await transfer_caseload(s, drive.app.content.messages, drive.clock.now(), "Sam", "Riley")
        assert [p.name for p in done.cleared_backup] == ["Alex"]
        alex = await resolve(s, "Alex")
        team = await s.get(CareTeam, alex.id)
        assert team is not None and team.backup_id is None
    with pytest.raises(UserError, match="the same peer"):
        async with drive.app.db.transaction() as s:
            await transfer_caseload(s, drive.app.content.messages, drive.clock.now(), "Riley", "Riley")
