"""`peerline people import`, `people export` and `db purge`, driven as an operator would, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from storage.db import Database
from storage.models import (
    Alert,
    Answer,
    AuditEvent,
    CareTeam,
    ChannelIdentity,
    CheckinSchedule,
    Disclosure,
    FamilyLink,
    FlowSession,
    Message,
    Outbox,
    Person,
)
from tests.bot.cli.test_cli import _program, cli  # noqa: F401  (the fixture)

HEADER = "role,name,phone,telegram,timezone,locale,checkin_time,credential,peer,backup,supervisor\n"


def _csv(tmp_path: Path, *lines: str, header: str = HEADER) -> str:
    path = tmp_path / "people.csv"
    path.write_text(header + "".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


async def _counts(db_url: str) -> dict[str, int]:
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            counts = {}
            for name, table in (
                ("people", Person),
                ("identities", ChannelIdentity),
                ("schedules", CheckinSchedule),
                ("teams", CareTeam),
                ("messages", Message),
                ("outbox", Outbox),
            ):
                counts[name] = (await s.scalar(select(func.count()).select_from(table))) or 0
            return counts
    finally:
        await database.dispose()


async def _team_and_audit(db_url: str, pir_id: int) -> tuple[CareTeam | None, list[str]]:
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            team = await s.get(CareTeam, pir_id)
            actions = (await s.scalars(select(AuditEvent.action).order_by(col(AuditEvent.id)))).all()
            return team, list(actions)
    finally:
        await database.dispose()


GOOD = (
    "peer,Sam Peer,,1001,,,,CPRS,,,",
    "supervisor,Dana Sup,+14155550100,,,,,,,,",
    "pir,Alex Rivera,+1 (415) 555-0123,,America/Chicago,es,9:30,,Sam,Kim,Dana",
    "family,Jordan,,2002,,,,,,,",
)


def test_import_enrols_everyone_with_teams_schedules_and_opt_ins(cli, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    kim = json.loads(cli("people", "add", "--role", "peer", "--name", "Kim", "--console", "kim", "--json"))
    result = json.loads(cli("people", "import", _csv(tmp_path, *GOOD), "--json"))
    assert result["imported"] == 4
    assert [(r["line"], r["name"], r["ok"]) for r in result["rows"]] == [
        (2, "Sam Peer", True),
        (3, "Dana Sup", True),
        (4, "Alex Rivera", True),
        (5, "Jordan", True),
    ]
    ids = {r["name"]: r["id"] for r in result["rows"]}
    people = {p["name"]: p for p in json.loads(cli("people", "list", "--json"))}
    assert (people["Alex Rivera"]["timezone"], people["Alex Rivera"]["locale"]) == ("America/Chicago", "es")
    assert people["Sam Peer"]["credential"] == "CPRS"
    counts = asyncio.run(_counts(db_url))
    # 4 imported + Kim; identities: Kim's console + 4; schedules: the PIR's and the family member's.
    assert (counts["people"], counts["identities"], counts["schedules"]) == (5, 5, 2)
    # Opt-in confirmations for the PIR and the family member only (staff get none), as `people add`.
    assert counts["messages"] == counts["outbox"] == 2
    team, actions = asyncio.run(_team_and_audit(db_url, ids["Alex Rivera"]))
    assert team is not None
    assert (team.peer_id, team.backup_id, team.supervisor_id) == (ids["Sam Peer"], kim["id"], ids["Dana Sup"])
    assert actions.count("person.created") == 5
    assert actions.count("care_team.assigned") == 1
    assert actions.count("people.imported") == 1


def test_bad_rows_import_nothing_and_each_is_named(cli, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    cli("people", "add", "--role", "peer", "--name", "Kim", "--console", "kim")
    path = _csv(
        tmp_path,
        *GOOD,
        "pir,Robin,+14155550123,,,,,,Sam,,",  # the phone of line 4
        "pir,Lee,12,,,,,,,,",
        "wizard,Merlin,,,,,,,,,",
        "pir,Casey,,,Mars/Olympus,,,,,,",
        "pir,Drew,,,,,23:30,,,,",
        "pir,Ezra,,,,,,,Nobody,,",
        "pir,Fay,,,,,,,Sam,Sam,",
        "peer,Gus,,,,,,,Sam,,",
        ",,,,,,,,,,",  # blank lines are skipped
        "family,Hana,,,,fr,,,,,",
    )
    output = cli("people", "import", path, code=2)
    lines = output.splitlines()
    assert lines[:4] == [
        "line 2  Sam Peer  ok",
        "line 3  Dana Sup  ok",
        "line 4  Alex Rivera  ok",
        "line 5  Jordan  ok",
    ]
    assert "line 6  Robin  sms +14155550123 is also on line 4" in output
    assert "line 7  Lee  bad phone number '12'" in output
    assert "line 8  Merlin  bad role 'wizard'" in output
    assert "line 9  Casey  unknown time zone 'Mars/Olympus'" in output
    assert "line 10  Drew  check-in time 23:30 is inside quiet hours" in output
    assert "line 11  Ezra  no person named 'Nobody'" in output
    assert "line 12  Fay  the backup must be someone other than the peer (Sam Peer)" in output
    assert "line 13  Gus  peer is for a PIR's care team" in output
    assert "line 15  Hana  bad locale 'fr'" in output
    assert "9 of 13 rows are bad: nobody was imported" in output
    assert asyncio.run(_counts(db_url))["people"] == 1  # Kim alone
    # An address enrolled before the file is refused too.
    _program(cli)
    output = cli("people", "import", _csv(tmp_path, "pir,Robin,,1001,,,,,,,"), code=2)
    assert "line 2  Robin  telegram 1001 already belongs to person" in output


def test_dry_run_checks_and_enrols_nobody(cli, db_url: str, tmp_path: Path) -> None:  # noqa: F811
    output = cli("people", "import", _csv(tmp_path, *GOOD[:2], GOOD[3]), "--dry-run")
    assert "all 3 rows are good (dry run: nobody was imported)" in output
    assert asyncio.run(_counts(db_url))["people"] == 0


def test_unknown_columns_are_named_in_one_line(cli, tmp_path: Path) -> None:  # noqa: F811
    path = _csv(tmp_path, "pir,Alex,x,y", header="role,name,email,pager\n")
    output = cli("people", "import", path, code=2)
    assert "unknown columns 'email', 'pager': the columns are role, name, phone" in output


async def _seed_history(db_url: str, pir: int, family: int) -> None:
    """For the PIR: a finished session a year and a half ago with an answer, a message (with its outbox
    row) and a resolved alert on it; an alert from then still open, on a message of its own; a disclosure
    then; and a message from yesterday."""
    old = datetime.now(UTC) - timedelta(days=550)
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            session = FlowSession(
                person_id=pir,
                flow_id="daily_checkin",
                channel="sms",
                status="completed",
                started_at=old,
                updated_at=old,
            )
            s.add(session)
            await s.flush()
            assert session.id is not None
            msgs = []
            for when in (old, old, datetime.now(UTC) - timedelta(days=1)):
                message = Message(
                    direction="in",
                    channel="sms",
                    address="+14155550123",
                    person_id=pir,
                    body="hi",
                    created_at=when,
                    updated_at=when,
                )
                s.add(message)
                msgs.append(message)
            await s.flush()
            assert msgs[0].id is not None and msgs[1].id is not None
            s.add(
                Outbox(
                    message_id=msgs[0].id,
                    channel="sms",
                    address="+14155550123",
                    body="hi",
                    next_attempt_at=old,
                    created_at=old,
                )
            )
            s.add(
                Answer(
                    session_id=session.id,
                    person_id=pir,
                    flow_id="daily_checkin",
                    step_id="mood",
                    value=3,
                    raw="3",
                    answered_at=old,
                )
            )
            s.add(
                Alert(
                    person_id=pir,
                    severity="high",
                    message_id=msgs[0].id,
                    session_id=session.id,
                    status="resolved",
                    created_at=old,
                )
            )
            s.add(Alert(person_id=pir, severity="high", message_id=msgs[1].id, status="open", created_at=old))
            link = FamilyLink(family_id=family, pir_id=pir, scope="status", state="active")
            s.add(link)
            await s.flush()
            assert link.id is not None
            s.add(
                Disclosure(
                    pir_id=pir,
                    recipient_id=family,
                    link_id=link.id,
                    kind="weekly_status",
                    what="checked in",
                    channel="sms",
                    disclosed_at=old,
                )
            )
            s.add(AuditEvent(at=old, actor="cli", action="people.listed"))
    finally:
        await database.dispose()


async def _left(db_url: str) -> dict[str, int]:
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            counts = {}
            for name, table in (
                ("messages", Message),
                ("outbox", Outbox),
                ("answers", Answer),
                ("sessions", FlowSession),
                ("alerts", Alert),
                ("disclosures", Disclosure),
            ):
                counts[name] = (await s.scalar(select(func.count()).select_from(table))) or 0
            purges = (
                await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == "records.purged"))
            ).all()
            counts["old_audit"] = (
                await s.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(col(AuditEvent.at) < datetime.now(UTC) - timedelta(days=365))
                )
            ) or 0
            counts["purge_events"] = len(purges)
            if purges:
                counts["purged_messages"] = purges[0].detail["deleted"]["messages"]
            return counts
    finally:
        await database.dispose()


def test_purge_counts_then_removes_what_is_past_the_date_and_audits_itself(cli, db_url: str) -> None:  # noqa: F811
    ids = _program(cli)
    asyncio.run(_seed_history(db_url, ids["Alex"], ids["Jordan"]))
    before_all = asyncio.run(_left(db_url))
    cutoff = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    # The old message under the open alert stays with it; so does the yesterday's one.
    expected = {
        "outbox": 1,
        "answers": 1,
        "alerts": 1,
        "disclosures": 1,
        "sessions": 1,
        "messages": 1,
        "audit_events": 1,
    }
    counted = json.loads(cli("db", "purge", "--before", cutoff, "--dry-run", "--json"))
    assert counted["counts"] == expected
    assert asyncio.run(_left(db_url)) == before_all  # a dry run removes nothing
    removed = json.loads(cli("db", "purge", "--before", cutoff, "--yes", "--json"))
    assert removed["counts"] == expected
    left = asyncio.run(_left(db_url))
    assert left["messages"] == before_all["messages"] - 1
    assert (left["outbox"], left["answers"], left["sessions"], left["disclosures"]) == (
        before_all["outbox"] - 1,
        0,
        0,
        0,
    )
    assert left["alerts"] == 1  # the open one
    assert (left["old_audit"], left["purge_events"], left["purged_messages"]) == (0, 1, 1)
    # Nothing older is left: a second purge finds nothing.
    again = json.loads(cli("db", "purge", "--before", cutoff, "--dry-run", "--json"))
    assert set(again["counts"].values()) == {0}


def test_purge_refuses_the_last_day_and_wants_dry_run_or_yes(cli) -> None:  # noqa: F811
    assert "give --dry-run to count what would be removed, or --yes" in cli("db", "purge", code=2)
    today = datetime.now(UTC).date().isoformat()
    assert "is within the last day" in cli("db", "purge", "--before", today, "--yes", code=2)
    # Without --before: the retention years ago (6 by default).
    result = json.loads(cli("db", "purge", "--dry-run", "--json"))
    assert result["before"][:4] == str(datetime.now(UTC).year - 6)


async def _audited(db_url: str, action: str) -> list[AuditEvent]:
    database = Database(db_url)
    try:
        async with database.transaction() as s:
            return list((await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == action))).all())
    finally:
        await database.dispose()


def test_export_writes_the_persons_own_record_as_json_and_csv_and_is_audited(
    cli,  # noqa: F811
    db_url: str,
    tmp_path: Path,
) -> None:
    ids = _program(cli)
    asyncio.run(_seed_history(db_url, ids["Alex"], ids["Jordan"]))
    out = tmp_path / "alex"
    result = json.loads(cli("people", "export", "Alex", "--out", str(out), "--json"))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["record.json"]
        + [f"{t}.csv" for t in ("profile", "channel_identities", "messages", "answers", "alerts")]
        + [f"{t}.csv" for t in ("contact_notes", "consents", "disclosures")]
    )
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert record["profile"][0]["name"] == "Alex" and record["profile"][0]["id"] == ids["Alex"]
    assert [i["address"] for i in record["channel_identities"]] == ["+14155550123"]
    # The opt-in confirmation of `people add` and the three seeded messages; nobody else's.
    assert len(record["messages"]) == 4
    assert {m["person_id"] for m in record["messages"]} == {ids["Alex"]}
    assert [(a["step_id"], a["value"]) for a in record["answers"]] == [("mood", 3)]
    assert [a["status"] for a in record["alerts"]] == ["resolved", "open"]
    assert [(c["family"], c["scope"]) for c in record["consents"]] == [("Jordan", "status")]
    assert [(d["recipient"], d["what"]) for d in record["disclosures"]] == [("Jordan", "checked in")]
    assert result["counts"]["messages"] == 4
    messages_csv = (out / "messages.csv").read_text(encoding="utf-8").splitlines()
    assert messages_csv[0].startswith("id,direction,channel,address,person_id,body")
    assert len(messages_csv) == 1 + 4
    assert (out / "contact_notes.csv").read_text(encoding="utf-8").startswith("id,pir_id,peer_id")
    (event,) = asyncio.run(_audited(db_url, "person.exported"))
    assert event.person_id == ids["Alex"] and event.detail["counts"]["alerts"] == 2
    # A folder with files in it is refused (nothing mixed into an earlier export), and not audited.
    assert "exists and is not an empty folder" in cli("people", "export", "Alex", "--out", str(out), code=2)
    assert len(asyncio.run(_audited(db_url, "person.exported"))) == 1
    # A family member's export holds the consents given to them, and no disclosures table rows.
    fam = json.loads(cli("people", "export", "Jordan", "--out", str(tmp_path / "jordan"), "--json"))
    assert (fam["counts"]["consents"], fam["counts"]["disclosures"], fam["counts"]["messages"]) == (1, 0, 1)
