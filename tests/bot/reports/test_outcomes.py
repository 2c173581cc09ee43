"""`peerline report outcomes` and `report billing` over a known history on a fixed clock, on SQLite and
PostgreSQL: every figure of the JSON is asserted."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.cli.main import app as cli_app
from bot.clock import ManualClock
from bot.reports.outcomes import outcomes
from bot.reports.period import Period, percentile
from config.settings import Settings
from storage.models import (
    Alert,
    Answer,
    AuditAction,
    AuditEvent,
    CareTeam,
    ContactNote,
    FamilyLink,
    FlowSession,
    Message,
    Person,
    PersonStatus,
    Role,
    SessionStatus,
    score_of,
)

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 29), "America/New_York")
runner = CliRunner()


def _day(n: int, hour: int = 15) -> datetime:
    """Day `n` of the period (0 is Monday 2 March), at `hour` UTC: mid-morning in New York."""
    return datetime(2026, 3, 2, hour, tzinfo=UTC) + timedelta(days=n)


async def _history(app: App) -> dict[str, int]:
    ids: dict[str, int] = {}
    async with app.db.transaction() as s:
        for name, role, created, extra in [
            ("Sam", Role.PEER, datetime(2025, 11, 1, tzinfo=UTC), {"credential": "CPRS"}),
            ("Riley", Role.PEER, datetime(2025, 11, 1, tzinfo=UTC), {}),
            ("Alex", Role.PIR, datetime(2025, 12, 1, tzinfo=UTC), {}),
            ("Blair", Role.PIR, datetime(2026, 2, 20, tzinfo=UTC), {"status": PersonStatus.DISCHARGED}),
            ("Casey", Role.PIR, datetime(2026, 3, 10, tzinfo=UTC), {}),
            ("Drew", Role.PIR, datetime(2026, 4, 5, tzinfo=UTC), {}),  # after the period: not in it
            ("Jordan", Role.FAMILY, datetime(2026, 1, 5, tzinfo=UTC), {}),
        ]:
            person = Person(role=role, name=name, created_at=created, **extra)
            s.add(person)
            await s.flush()
            assert person.id is not None
            ids[name] = person.id
        now = _day(0)
        for pir, peer in (("Alex", "Sam"), ("Blair", "Sam"), ("Casey", "Riley"), ("Drew", "Riley")):
            s.add(CareTeam(pir_id=ids[pir], peer_id=ids[peer], updated_at=now))
        s.add(FamilyLink(family_id=ids["Jordan"], pir_id=ids["Alex"], granted_at=now))

        def session(who: str, day: int, status: str, answers: dict[str, int]) -> None:
            row = FlowSession(
                person_id=ids[who],
                flow_id="daily_checkin",
                channel="console",
                status=status,
                local_date=(date(2026, 3, 2) + timedelta(days=day)).isoformat(),
                started_at=_day(day),
                updated_at=_day(day),
            )
            s.add(row)
            sessions.append((row, answers))

        sessions: list[tuple[FlowSession, dict[str, int]]] = []
        for day in range(28):  # Alex: every day of the period
            if day < 14:
                session("Alex", day, SessionStatus.COMPLETED, {"mood": 2, "craving": 8})
            elif day < 20:
                session("Alex", day, SessionStatus.COMPLETED, {"mood": 4, "craving": 3})
            elif day < 24:
                session("Alex", day, SessionStatus.EXPIRED, {})  # missed (day 20 is in week 3)
            elif day < 27:
                session("Alex", day, SessionStatus.EXPIRED, {"mood": 4})  # partial
            else:
                session("Alex", day, SessionStatus.STOPPED, {"mood": 1})  # a crisis ended it
        session("Alex", -1, SessionStatus.COMPLETED, {"mood": 1})  # the day before: not counted
        session("Alex", 28, SessionStatus.COMPLETED, {"mood": 1})  # the day after: not counted
        for day in range(12):  # Blair: the first two weeks
            status = SessionStatus.ABANDONED if day in (10, 11) else SessionStatus.COMPLETED
            session("Blair", day, status, {} if day in (10, 11) else {"mood": 3})
        for day in range(14, 19):  # Casey: the third week
            session("Casey", day, SessionStatus.COMPLETED, {})
        await s.flush()
        for row, answers in sessions:
            for step, value in answers.items():
                s.add(
                    Answer(
                        session_id=row.id,
                        person_id=row.person_id,
                        flow_id="daily_checkin",
                        step_id=step,
                        value=value,
                        raw=str(value),
                        score=score_of(value),
                        answered_at=row.started_at + timedelta(minutes=2),
                    )
                )
        s.add(
            AuditEvent(
                at=_day(5),
                actor="scheduler",
                action=AuditAction.CHECKIN_MISSED_DOWNTIME,
                person_id=ids["Blair"],
                detail={"count": 2},
            )
        )
        for who, severity, category, day, ack_after, level in [
            ("Alex", "critical", "suicide", 3, 120, 1),
            ("Alex", "high", "use", 8, 1200, 1),
            ("Blair", "critical", "overdose", 10, 600, 3),
            ("Casey", "high", "use", 18, None, 2),
            ("Alex", "critical", "suicide", -3, 60, 1),  # before the period
        ]:
            s.add(
                Alert(
                    person_id=ids[who],
                    severity=severity,
                    categories=[category],
                    reasons=["words"],
                    created_at=_day(day),
                    acknowledged_at=None if ack_after is None else _day(day) + timedelta(seconds=ack_after),
                    escalation_level=level,
                    status="open" if ack_after is None else "acknowledged",
                )
            )
        for to, kind, count in [
            ("Alex", "crisis", 2),
            ("Jordan", "crisis", 1),
            (None, "crisis", 1),  # a stranger: in no caseload
            ("Sam", "relay", 5),
            ("Riley", "relay", 1),
            ("Alex", "relay", 2),
            ("Jordan", "relay", 1),
        ]:
            for n in range(count):
                s.add(
                    Message(
                        direction="out",
                        channel="console",
                        address=f"{to}-{n}",
                        person_id=None if to is None else ids[to],
                        body="…",
                        kind=kind,
                        status="sent",
                        created_at=_day(4 + n),
                        updated_at=_day(4 + n),
                    )
                )
        for pir, peer, day, minutes, units in [
            ("Alex", "Sam", "2026-03-03", 20, 1),
            ("Alex", "Sam", "2026-03-15", 40, 3),
            ("Blair", "Sam", "2026-03-20", 5, 0),
            ("Casey", "Riley", "2026-03-21", 30, 2),
            ("Alex", "Sam", "2026-04-01", 15, 1),  # next month
        ]:
            start = datetime.fromisoformat(f"{day}T16:00:00+00:00")
            s.add(
                ContactNote(
                    pir_id=ids[pir],
                    peer_id=ids[peer],
                    service_date=day,
                    started_at=start,
                    ended_at=start + timedelta(minutes=minutes),
                    minutes=minutes,
                    units=units,
                    method="phone",
                    note=f"talked with {pir} about work",
                    created_at=start,
                )
            )
    return ids


@pytest.fixture
async def migrated(db_url: str, clock: ManualClock, console: ConsoleChannel) -> AsyncIterator[App]:
    """The app on a database set up as `peerline` sets one up (migrations), so the CLI can share it."""
    application = App.build(Settings(database_url=db_url), clock=clock, channels={"console": console})
    await application.db.upgrade()
    yield application
    await application.close()


@pytest.fixture
async def history(migrated: App) -> dict[str, int]:
    return await _history(migrated)


async def test_every_figure_of_the_programs_report(migrated: App, history: dict[str, int]) -> None:
    async with migrated.db.transaction() as s:
        report = await outcomes(s, PERIOD, migrated.content.escalation, program="Harbor")
    f = report.figures
    assert f["period"] == {"from": "2026-03-02", "to": "2026-03-29", "timezone": "America/New_York"}
    assert f["people"] == {
        "pirs_enrolled": 3,
        "pirs_new": 1,
        "pirs_active": 2,
        "pirs_discharged": 1,
        "family_enrolled": 1,
    }
    checkins = f["checkins"]
    assert {
        k: checkins[k] for k in ("started", "completed", "partial", "missed", "missed_downtime", "stopped")
    } == {
        "started": 45,
        "completed": 35,
        "partial": 3,
        "missed": 8,
        "missed_downtime": 2,
        "stopped": 1,
    }
    assert checkins["in_progress"] == 0
    assert checkins["completion_rate"] == round(35 / 47, 4)
    assert checkins["weekly"] == {
        "weeks": 4,
        "pirs_each_week": [2, 2, 2, 1],
        "pirs_every_week": 1,
        "mean_share_per_week": round(7 / 12, 4),
    }
    assert checkins["retention"] == {
        "day_30": {"eligible": 2, "still_checking_in": 1, "share": 0.5},
        "day_60": {"eligible": 1, "still_checking_in": 1, "share": 1.0},
        "day_90": {"eligible": 1, "still_checking_in": 1, "share": 1.0},
    }
    alerts = f["alerts"]
    assert alerts["total"] == 4
    assert alerts["by_severity"] == {"critical": 2, "high": 2, "medium": 0, "low": 0}
    assert alerts["by_category"] == {"overdose": 1, "suicide": 1, "use": 2}
    assert alerts["acknowledged"] == 3
    assert alerts["time_to_ack_seconds"] == {"p50": 600.0, "p90": 1200.0, "max": 1200.0}
    assert alerts["time_to_ack_seconds_by_severity"] == {
        "critical": {"p50": 120.0, "p90": 600.0, "max": 600.0},
        "high": {"p50": 1200.0, "p90": 1200.0, "max": 1200.0},
    }
    assert alerts["acknowledged_within_first_step"] == 0.5  # 2 min and 20 min of 4 alerts
    assert alerts["escalated_past_peer"] == 2
    assert alerts["crisis_replies"] == 3  # to Alex and to Jordan, Alex's family; not the stranger
    assert f["peer_work"] == {
        "relays_to_staff": 6,
        "peer_replies": 3,
        "notes": {"count": 4, "minutes": 95, "units": 6, "service_code": "H0038"},
    }
    assert f["notes"]["units"] == 6
    assert f["change"] == {
        "mood": {"pirs": 1, "first_two_weeks": 2.0, "last_two_weeks": 3.7, "change": 1.7},
        "craving": {"pirs": 1, "first_two_weeks": 8.0, "last_two_weeks": 3.0, "change": -5.0},
        "recovery_capital": {"pirs": 0, "baseline": None, "latest": None, "change": None},  # no BARC-10 yet
    }
    alex = next(r for r in report.pirs if r.name == "Alex")
    assert (alex.started, alex.completed, alex.partial, alex.missed, alex.stopped) == (28, 20, 3, 4, 1)
    assert (alex.alerts, alex.critical, alex.notes, alex.units) == (2, 1, 2, 4)
    assert [r.name for r in report.pirs] == ["Alex", "Blair", "Casey"]


async def test_one_peers_caseload(migrated: App, history: dict[str, int]) -> None:
    async with migrated.db.transaction() as s:
        sam = await s.get(Person, history["Sam"])
        assert sam is not None
        report = await outcomes(s, PERIOD, migrated.content.escalation, program="Harbor", peer=sam)
    f = report.figures
    assert f["peer"] == "Sam"
    assert f["people"]["pirs_enrolled"] == 2
    assert f["checkins"]["started"] == 40
    assert f["alerts"]["total"] == 3
    assert f["peer_work"]["relays_to_staff"] == 5  # to Sam only
    assert f["peer_work"]["notes"] == {"count": 3, "minutes": 65, "units": 4, "service_code": "H0038"}


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([4, 1, 3, 2], 0.5) == 2
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9
    assert percentile([7], 0.9) == 7
    assert percentile([], 0.5) is None


def _cli(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str, code: int = 0) -> str:
    monkeypatch.setenv("PEERLINE_DATABASE_URL", db_url)
    monkeypatch.setenv("PEERLINE_PROGRAM_NAME", "Harbor")
    result = runner.invoke(cli_app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


async def _acli(monkeypatch: pytest.MonkeyPatch, db_url: str, *args: str, code: int = 0) -> str:
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(_cli, monkeypatch, db_url, *args, code=code)


async def test_the_cli_prints_json_csv_and_a_table_and_audits_each_report(
    migrated: App, history: dict[str, int], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    period = ("--from", "2026-03-02", "--to", "2026-03-29")
    data = json.loads(await _acli(monkeypatch, db_url, "report", "outcomes", *period, "--format", "json"))
    for key in ("checkins", "alerts", "notes"):
        assert key in data
    assert data["checkins"]["completed"] == 35 and data["checkins"]["missed"] == 8
    assert data["alerts"]["time_to_ack_seconds"]["p50"] == 600.0 and data["notes"]["units"] == 6
    assert data["program"] == "Harbor"

    out = tmp_path / "outcomes.csv"
    await _acli(monkeypatch, db_url, "report", "outcomes", *period, "--format", "csv", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["pir"] for r in rows] == ["Alex", "Blair", "Casey", "TOTAL"]
    assert rows[0]["checkins_completed"] == "20" and rows[-1]["units"] == "6"

    hidden = await _acli(
        monkeypatch, db_url, "report", "outcomes", *period, "--format", "csv", "--deidentify"
    )
    again = await _acli(monkeypatch, db_url, "report", "outcomes", *period, "--format", "csv", "--deidentify")
    assert hidden == again  # pseudonyms are stable across runs
    assert "Alex" not in hidden and "Blair" not in hidden and "P-" in hidden

    table = await _acli(monkeypatch, db_url, "report", "outcomes", *period, "--peer", "Sam")
    assert "completion rate" in table and "caseload of Sam" in table

    bad = await _acli(
        monkeypatch, db_url, "report", "outcomes", "--from", "2026-03-29", "--to", "2026-03-02", code=2
    )
    assert "before --from" in bad and "Traceback" not in bad
    bad = await _acli(
        monkeypatch, db_url, "report", "outcomes", "--from", "March", "--to", "2026-03-02", code=2
    )
    assert "bad --from" in bad

    async with migrated.db.transaction() as s:
        from sqlmodel import col, select  # noqa: PLC0415

        audited = (
            await s.scalars(select(AuditEvent).where(col(AuditEvent.action) == AuditAction.REPORT_OUTCOMES))
        ).all()
    assert len(audited) == 5


async def test_billing_lines_of_a_month(
    migrated: App, history: dict[str, int], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = list(
        csv.DictReader(
            io.StringIO(await _acli(monkeypatch, db_url, "report", "billing", "--month", "2026-03"))
        )
    )
    assert [
        (r["service_date"], r["person_served"], r["units"], r["peer"], r["credential"]) for r in lines
    ] == [
        ("2026-03-03", "Alex", "1", "Sam", "CPRS"),
        ("2026-03-15", "Alex", "3", "Sam", "CPRS"),
        ("2026-03-20", "Blair", "0", "Sam", "CPRS"),
        ("2026-03-21", "Casey", "2", "Riley", ""),
    ]
    assert lines[0]["service_code"] == "H0038" and lines[0]["method"] == "phone"
    assert lines[0]["note"] == "talked with Alex about work"
    assert lines[0]["start"].startswith("2026-03-03T16:00") and lines[0]["end"].startswith("2026-03-03T16:20")
    sams = json.loads(
        await _acli(
            monkeypatch, db_url, "report", "billing", "--month", "2026-03", "--peer", "Riley", "--json"
        )
    )
    assert [(line["person_served"], line["minutes"]) for line in sams] == [("Casey", 30)]
    hidden = await _acli(monkeypatch, db_url, "report", "billing", "--month", "2026-03", "--deidentify")
    assert "Alex" not in hidden and "talked with" not in hidden and "CPRS" in hidden
    april = await _acli(monkeypatch, db_url, "report", "billing", "--month", "2026-04", "--format", "json")
    assert [line["service_date"] for line in json.loads(april)] == ["2026-04-01"]
    bad = await _acli(monkeypatch, db_url, "report", "billing", "--month", "2026-13", code=2)
    assert "bad --month" in bad


async def test_the_pdf_carries_the_headline_figures_the_period_and_page_numbers_on_every_page(
    migrated: App, history: dict[str, int], db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pypdf import PdfReader  # noqa: PLC0415

    if not db_url.startswith("sqlite"):
        pytest.skip("the PDF is drawn from the same figures on either database")
    out = tmp_path / "outcomes.pdf"
    await _acli(
        monkeypatch,
        db_url,
        "report",
        "outcomes",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-29",
        "--format",
        "pdf",
        "--out",
        str(out),
    )
    reader = PdfReader(str(out))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) == 3
    for number, text in enumerate(pages, 1):
        assert "Harbor" in text and "2026-03-02 to 2026-03-29" in text, text
        assert f"page {number} of 3" in text
    first = pages[0]
    for figure in ("35 / 3 / 8 / 1", "74%", "10m 00s / 20m 00s / 20m 00s", "4 (6)"):
        assert figure in first, (figure, first)
    fonts = {
        str(font.get_object()["/BaseFont"])
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all("DejaVu" in name for name in fonts)
    descriptors = []
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            if "/DescendantFonts" in font:  # a type 42 font: the TrueType data sits in its CID font
                font = font["/DescendantFonts"][0].get_object()
            descriptors.append(font["/FontDescriptor"].get_object())
    assert descriptors and all("/FontFile2" in d for d in descriptors)  # TrueType, embedded
    out_of_place = await _acli(
        monkeypatch,
        db_url,
        "report",
        "outcomes",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-29",
        "--format",
        "pdf",
        code=2,
    )
    assert "--out" in out_of_place


async def test_every_chart_is_a_valid_image(migrated: App, history: dict[str, int], db_url: str) -> None:
    from PIL import Image  # noqa: PLC0415

    from bot.reports.pdf import chart_pngs  # noqa: PLC0415

    if not db_url.startswith("sqlite"):
        pytest.skip("the charts are drawn from the same figures on either database")
    async with migrated.db.transaction() as s:
        report = await outcomes(s, PERIOD, migrated.content.escalation, program="Harbor")
    images = chart_pngs(report)
    assert set(images) == {"engagement", "alerts", "response", "change"}
    for name, data in images.items():
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] >= 600, name


async def test_recovery_capital_is_the_barc10_total_at_baseline_and_latest(
    migrated: App, history: dict[str, int], clock: ManualClock, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weekly BARC-10, answered over the console as a PIR would: its total (10-60) is in the report."""
    from bot.channels.base import Inbound  # noqa: PLC0415
    from bot.checkins.sessions import start_checkin  # noqa: PLC0415
    from bot.people.enrolment import add_person, assign  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415

    out = await _acli(
        monkeypatch,
        db_url,
        "schedule",
        "set",
        "Alex",
        "--flow",
        "barc10",
        "--days",
        "mon",
        "--time",
        "10:00",
        "--json",
    )
    assert json.loads(out)["flow_id"] == "barc10"
    bad = await _acli(monkeypatch, db_url, "schedule", "set", "Alex", "--flow", "barc11", code=2)
    assert "unknown flow 'barc11'" in bad
    clock.set(datetime(2026, 2, 23, 15, tzinfo=UTC))
    async with migrated.db.transaction() as s:
        await add_person(s, clock.now(), role=Role.PIR, name="Eli", console="eli")
        await assign(s, clock.now(), pir="Eli", peer="Sam")
    for when, answers in (
        (datetime(2026, 2, 23, 15, tzinfo=UTC), [3] * 10),  # baseline, before the period: 30
        (datetime(2026, 3, 9, 15, tzinfo=UTC), [4] * 10),  # in the period, not the latest: 40
        (datetime(2026, 3, 23, 15, tzinfo=UTC), [5] * 9 + [6]),  # the latest: 51
    ):
        clock.set(when)
        async with migrated.db.transaction() as s:
            eli = await resolve(s, "Eli")
            await start_checkin(s, migrated.content, eli, "barc10", clock.now(), migrated.buttons)
        for n, answer in enumerate(answers):
            clock.advance(timedelta(seconds=20))
            await migrated.pipeline.handle(
                Inbound("console", "eli", str(answer), clock.now(), provider_id=f"c:{when:%m%d}:{n}")
            )
    async with migrated.db.transaction() as s:
        report = await outcomes(s, PERIOD, migrated.content.escalation, program="Harbor")
    assert report.figures["change"]["recovery_capital"] == {
        "pirs": 1,
        "baseline": 30.0,
        "latest": 51.0,
        "change": 21.0,
    }
    eli_row = next(r for r in report.pirs if r.name == "Eli")
    assert (eli_row.capital_baseline, eli_row.capital_latest) == (30.0, 51.0)
    assert eli_row.started == 2 and eli_row.completed == 2  # a BARC-10 is a check-in of the PIR's too
