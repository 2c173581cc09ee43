"""The caseload and one PIR's page in the console: scope (404 outside it), sorting and filtering, the
chart with its text alternative, the audit trail, and the two forms going through what chat REPLY and
NOTE do (same message queued, same note written)."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.checkins.sessions import start_checkin
from bot.people.enrolment import add_person, assign, resolve
from flows.severity import Severity
from storage.models import AuditAction, ContactNote, Direction, Message, Outbox, Role
from tests.bot.careteam import Driver, raise_alert
from tests.bot.web.conftest import csrf, sign_in

Client = TestClient[object, object]


def _people(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-person-id="(\d+)"', html)]


async def _checkin(drive: Driver, who: str, answers: list[str]) -> None:
    async with drive.app.db.transaction() as s:
        pir = await resolve(s, who)
        await start_checkin(s, drive.app.content, pir, "daily_checkin", drive.clock.now(), drive.app.buttons)
    for answer in answers:
        await drive.say(who.lower(), answer)
    drive.inbox()


async def _ids(app: App, *names: str) -> list[int]:
    async with app.db.transaction() as s:
        found = [(await resolve(s, n)).id for n in names]
    return [i for i in found if i is not None]


async def _more_pirs(app: App) -> None:
    async with app.db.transaction() as s:
        for name, peer in (("Blair", "Sam"), ("Casey", "Sam"), ("Drew", "Pat")):
            await add_person(s, app.clock.now(), role=Role.PIR, name=name, console=name.lower())
            await assign(s, app.clock.now(), pir=name, peer=peer)


async def test_a_peer_sees_only_their_pirs_with_streak_latest_and_a_trend(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    await _more_pirs(app)
    await _checkin(drive, "Alex", ["4", "3", "no", "no", "skip"])
    drive.clock.advance(timedelta(days=1))
    await _checkin(drive, "Alex", ["2", "5", "no", "no", "skip"])
    await sign_in(client, app, console, "Sam")
    page = await (await client.get("/caseload")).text()
    alex, blair, casey = await _ids(app, "Alex", "Blair", "Casey")
    assert _people(page) == [alex, blair, casey]  # by name; Drew is Pat's
    row = page[page.index(f'data-person-id="{alex}"') : page.index(f'data-person-id="{blair}"')]
    assert re.search(r'class="streak">2<', row)
    assert re.search(r'class="mood">2 <svg class="spark"', row)
    assert "<title>Mood, oldest to newest: 4, 2</title>" in row  # the sparkline's text alternative
    assert "<title>Craving, oldest to newest: 3, 5</title>" in row
    assert "<polyline" in row
    listed = await drive.audits(AuditAction.WEB_CASELOAD_LISTED)
    assert [e.detail["people"] for e in listed] == [[alex, blair, casey]]


async def test_caseload_sorts_and_filters_by_query_string(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    await _more_pirs(app)
    await _checkin(drive, "Casey", ["4", "3", "no", "no", "skip"])
    drive.clock.advance(timedelta(days=1))
    await _checkin(drive, "Alex", ["4", "3", "no", "no", "skip"])
    alert_id = await raise_alert(app, Severity.HIGH)
    assert alert_id
    alex, blair, casey = await _ids(app, "Alex", "Blair", "Casey")
    await sign_in(client, app, console, "Sam")

    async def shown(query: str) -> list[int]:
        response = await client.get(f"/caseload{query}")
        assert response.status == 200
        return _people(await response.text())

    assert await shown("?sort=last") == [blair, casey, alex]  # never, then the longest quiet first
    assert await shown("?sort=alerts") == [alex, blair, casey]
    assert await shown("?alerts=open") == [alex]
    assert await shown("?q=CAS") == [casey]
    assert await shown("?q=nobody") == []
    assert await shown("?sort=bogus") == [alex, blair, casey]


async def test_an_admin_sees_everyone_and_a_supervisor_those_supervised(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    await _more_pirs(app)
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.ADMIN, name="Ada", console="ada")
    alex, blair, casey, drew = await _ids(app, "Alex", "Blair", "Casey", "Drew")
    await sign_in(client, app, console, "Dana")
    assert _people(await (await client.get("/caseload")).text()) == [alex]
    await client.post("/logout", data={"csrf": await csrf(client)})
    await sign_in(client, app, console, "Ada")
    assert _people(await (await client.get("/caseload")).text()) == [alex, blair, casey, drew]


async def test_person_page_shows_the_chart_with_alerts_and_text_alternative_and_is_audited(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    await _checkin(drive, "Alex", ["4", "3", "no", "no", "skip"])
    drive.clock.advance(timedelta(days=1))
    await _checkin(drive, "Alex", ["2", "9", "no", "no", "I had a rough night"])  # craving 9: an alert
    (alex,) = await _ids(app, "Alex")
    await sign_in(client, app, console, "Riley")
    response = await client.get(f"/people/{alex}")
    assert response.status == 200
    page = await response.text()
    assert '<svg class="chart" role="img" aria-labelledby="chart-title chart-desc"' in page
    assert '<title id="chart-title">Alex: mood and craving over 30 days</title>' in page
    assert "2 mood answers and 2 craving answers; 1 alerts marked as red lines." in page
    assert page.count('class="alert-mark sev-high"') == 1
    assert page.count('class="line-mood"') == page.count('class="line-craving"') == 1
    assert "<summary>The numbers</summary>" in page  # the same values as a table
    assert "I had a rough night" in page  # contact history, both ways
    assert "Sam" in page and "Dana" in page  # care team
    assert "Jordan" in page  # the consent Jordan holds
    page90 = await (await client.get(f"/people/{alex}?days=90")).text()
    assert "over 90 days" in page90
    viewed = await drive.audits(AuditAction.WEB_PERSON_VIEWED)
    (riley,) = await _ids(app, "Riley")
    assert [(e.actor, e.person_id, e.detail["days"]) for e in viewed] == [
        (f"person:{riley}", alex, 30),
        (f"person:{riley}", alex, 90),
    ]


async def test_another_teams_pir_is_404_like_nobody_and_unaudited(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex, sam) = await _ids(app, "Alex", "Sam")
    await sign_in(client, app, console, "Pat")
    assert _people(await (await client.get("/caseload")).text()) == []
    other = await client.get(f"/people/{alex}")
    missing = await client.get("/people/999999")
    staff = await client.get(f"/people/{sam}")  # not a PIR
    assert other.status == missing.status == staff.status == 404
    assert await other.text() == await missing.text()
    token = await csrf(client)
    for form in ("reply", "note"):
        posted = await client.post(
            f"/people/{alex}/{form}",
            data={"csrf": token, "text": "hi", "minutes": "20", "method": "phone", "note": "x"},
        )
        assert posted.status == 404
    assert await drive.audits(AuditAction.WEB_PERSON_VIEWED) == []
    assert await drive.audits(AuditAction.CONTACT_NOTED) == []


async def test_send_a_message_queues_what_chat_reply_queues(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex,) = await _ids(app, "Alex")
    drive.inbox()
    await drive.say("sam", "REPLY Alex call me when you can")
    chat = drive.inbox()["alex"]
    await sign_in(client, app, console, "Sam")
    token = await csrf(client, f"/people/{alex}")
    response = await client.post(
        f"/people/{alex}/reply", data={"csrf": token, "text": "call me when you can"}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == f"/people/{alex}?flash=reply_sent"
    await app.sender.drain()
    assert drive.inbox()["alex"] == chat == ["Your peer Sam: call me when you can"]
    replies = await drive.audits(AuditAction.PEER_REPLY)
    (sam,) = await _ids(app, "Sam")
    assert [(e.actor, e.person_id, e.detail["channel"]) for e in replies] == [
        (f"person:{sam}", alex, "console")
    ] * 2
    followed = await (await client.get(response.headers["Location"])).text()
    assert "Message to Alex is on its way." in followed


async def test_add_a_contact_note_writes_what_chat_note_writes(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex,) = await _ids(app, "Alex")
    await drive.say("sam", "NOTE Alex 25 phone talked about the weekend")
    await sign_in(client, app, console, "Sam")
    token = await csrf(client, f"/people/{alex}")
    response = await client.post(
        f"/people/{alex}/note",
        data={"csrf": token, "minutes": "25", "method": "phone", "note": "talked about the weekend"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == f"/people/{alex}?flash=note_saved"
    async with app.db.transaction() as s:
        notes = (await s.scalars(select(ContactNote).order_by(col(ContactNote.id)))).all()
    fields = [(n.pir_id, n.peer_id, n.minutes, n.units, n.method, n.note, n.service_code) for n in notes]
    assert len(fields) == 2 and fields[0] == fields[1]
    assert fields[0][2:4] == (25, 2)
    noted = await drive.audits(AuditAction.CONTACT_NOTED)
    assert len(noted) == 2 and noted[0].actor == noted[1].actor
    for bad in ({"minutes": "0"}, {"minutes": "481"}, {"method": "fax"}, {"note": " "}):
        data = {"csrf": token, "minutes": "25", "method": "phone", "note": "x", **bad}
        refused = await client.post(f"/people/{alex}/note", data=data, allow_redirects=False)
        assert refused.headers["Location"] == f"/people/{alex}?flash=note_invalid"
    assert len(await drive.audits(AuditAction.CONTACT_NOTED)) == 2
    page = await (await client.get(f"/people/{alex}")).text()
    assert page.count("talked about the weekend") == 2


async def test_forms_without_the_csrf_token_are_refused(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex,) = await _ids(app, "Alex")
    await sign_in(client, app, console, "Sam")
    for form, data in (
        ("reply", {"text": "hi"}),
        ("note", {"minutes": "20", "method": "phone", "note": "x"}),
    ):
        for token in ({}, {"csrf": "wrong"}):
            response = await client.post(f"/people/{alex}/{form}", data={**data, **token})
            assert response.status == 403
    async with app.db.transaction() as s:
        assert (await s.scalars(select(ContactNote))).all() == []
        assert (await s.scalars(select(Outbox))).all() == []
    assert await drive.audits(AuditAction.PEER_REPLY) == []


async def test_pages_follow_the_staff_members_language(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    async with app.db.transaction() as s:
        sam = await resolve(s, "Sam")
        sam.locale = "es"
    (alex,) = await _ids(app, "Alex")
    await sign_in(client, app, console, "Sam")
    assert "Último check-in" in await (await client.get("/caseload")).text()
    page = await (await client.get(f"/people/{alex}")).text()
    assert "Alex: ánimo y ganas en 30 días" in page and "Enviar un mensaje" in page


async def test_contact_history_shows_a_pressed_button_as_chat_history_does(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex,) = await _ids(app, "Alex")
    now = app.clock.now()
    async with app.db.transaction() as s:
        s.add(
            Message(
                direction=Direction.INBOUND,
                channel="console",
                address="alex",
                person_id=alex,
                body="No thanks [used:no]",
                created_at=now,
                updated_at=now,
            )
        )
    await sign_in(client, app, console, "Sam")
    page = await (await client.get(f"/people/{alex}")).text()
    assert "No thanks" in page and "[used:no]" not in page
