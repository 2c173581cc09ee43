"""The alert queue and one alert in the console: scope (404 outside it), order, the audit trail, and
Acknowledge / Resolve through the same lifecycle as ACK and DONE in chat, announced the same way."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.alerts.raising import Alerting, Signal
from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.people.enrolment import add_person, assign, resolve
from flows.severity import Severity
from storage.models import AlertStatus, AuditAction, Person, Role
from tests.bot.careteam import REASON, Driver, load_alert, raise_alert
from tests.bot.web.conftest import csrf, sign_in

Client = TestClient[object, object]


async def _raise_about(app: App, name: str, severity: Severity) -> int:
    async with app.db.transaction() as s:
        subject = await resolve(s, name)
        raised = await Alerting(app.content, app.buttons).raise_alert(
            s,
            subject=subject,
            raised_by=subject,
            signals=[Signal(severity, ("use",), (f"{name} wrote something",))],
            now=app.clock.now(),
            message_id=None,
            session_id=None,
            reply_to=None,
        )
    await app.sender.drain()
    assert raised.alert_id is not None
    return raised.alert_id


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-alert-id="(\d+)"', html)]


async def test_the_queue_lists_alerts_in_scope_worst_then_oldest(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    async with app.db.transaction() as s:
        for name in ("Blair", "Casey"):
            await add_person(s, app.clock.now(), role=Role.PIR, name=name, console=name.lower())
            await assign(s, app.clock.now(), pir=name, peer="Sam")
    high_old = await raise_alert(app, Severity.HIGH)
    drive.clock.advance(timedelta(minutes=90))
    medium = await _raise_about(app, "Blair", Severity.MEDIUM)
    critical_new = await _raise_about(app, "Casey", Severity.CRITICAL)
    console.sent.clear()
    await sign_in(client, app, console, "Sam")
    page = await (await client.get("/alerts")).text()
    assert _ids(page) == [critical_new, high_old, medium]
    first = page[page.index(f'data-alert-id="{high_old}"') :]
    assert "Alex" in first[:600] and "1 h" in first[:600] and "Sam" in first[:600]
    assert REASON not in page  # why is on the alert's own page only
    fragment = await client.get("/alerts/fragment")
    assert _ids(await fragment.text()) == [critical_new, high_old, medium]
    assert fragment.headers["Cache-Control"] == "no-store"


async def test_a_new_alert_shows_in_the_polled_fragment(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    await sign_in(client, app, console, "Riley")  # the backup sees it too
    assert _ids(await (await client.get("/alerts/fragment")).text()) == []
    alert_id = await raise_alert(app, Severity.HIGH)
    assert _ids(await (await client.get("/alerts/fragment")).text()) == [alert_id]
    listed = await drive.audits(AuditAction.WEB_ALERTS_LISTED)
    assert [e.detail["alerts"] for e in listed] == [[alert_id]]  # the empty list first, then on change only
    await client.get("/alerts/fragment")
    assert len(await drive.audits(AuditAction.WEB_ALERTS_LISTED)) == 1


async def test_a_peer_off_the_team_gets_404_and_changes_nothing(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    alert_id = await raise_alert(app, Severity.HIGH)
    await sign_in(client, app, console, "Pat")
    assert _ids(await (await client.get("/alerts")).text()) == []
    other_team = await client.get(f"/alerts/{alert_id}")
    missing = await client.get("/alerts/999999")
    assert other_team.status == missing.status == 404
    assert await other_team.text() == await missing.text()
    token = await csrf(client)
    response = await client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": token})
    assert response.status == 404
    assert (await load_alert(app, alert_id)).status == AlertStatus.OPEN
    assert await drive.audits(AuditAction.WEB_ALERT_VIEWED) == []


async def test_opening_an_alert_shows_why_and_is_audited(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    alert_id = await raise_alert(app, Severity.HIGH)
    await sign_in(client, app, console, "Dana")
    page = await (await client.get(f"/alerts/{alert_id}")).text()
    assert "Alex" in page and REASON.replace("'", "&#39;") in page and "use" in page
    assert 'id="acknowledge"' in page and 'id="resolve"' in page
    viewed = await drive.audits(AuditAction.WEB_ALERT_VIEWED)
    async with app.db.transaction() as s:
        alex, dana = await resolve(s, "Alex"), await resolve(s, "Dana")
    assert [(e.actor, e.person_id, e.detail["alert_id"]) for e in viewed] == [
        (f"person:{dana.id}", alex.id, alert_id)
    ]


async def test_an_admin_sees_every_alert(client: Client, app: App, console: ConsoleChannel) -> None:
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.ADMIN, name="Ada", console="ada")
    alert_id = await raise_alert(app, Severity.MEDIUM)
    await sign_in(client, app, console, "Ada")
    assert _ids(await (await client.get("/alerts")).text()) == [alert_id]
    assert (await client.get(f"/alerts/{alert_id}")).status == 200


async def test_acknowledge_without_the_csrf_token_is_refused(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    alert_id = await raise_alert(app, Severity.HIGH)
    await sign_in(client, app, console, "Sam")
    assert (await client.post(f"/alerts/{alert_id}/acknowledge", data={})).status == 403
    assert (await load_alert(app, alert_id)).status == AlertStatus.OPEN


def _told(drive: Driver, alert_id: int) -> dict[str, list[str]]:
    return {
        who: [t.replace(f"#{alert_id}", "#N") for t in texts]
        for who, texts in drive.inbox().items()
        if who != "riley"  # the one acting: chat answers them, the console shows the page
    }


async def test_acknowledge_and_resolve_are_the_chat_lifecycle_told_the_same_way(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    # In chat: Riley (the backup) takes an alert and closes it; Sam, who was paged, is told each time.
    by_chat = await raise_alert(app, Severity.HIGH)
    drive.inbox()
    await drive.say("riley", f"ACK {by_chat}")
    chat_ack = _told(drive, by_chat)
    await drive.say("riley", f"DONE {by_chat} called her, she is safe")
    chat_done = _told(drive, by_chat)
    assert chat_ack and chat_done  # the comparison below compares something
    # In the console: the same for a second alert.
    by_web = await raise_alert(app, Severity.HIGH)
    await sign_in(client, app, console, "Riley")
    drive.inbox()
    token = await csrf(client)
    response = await client.post(f"/alerts/{by_web}/acknowledge", data={"csrf": token}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, f"/alerts/{by_web}?result=changed")
    await app.sender.drain()
    alert = await load_alert(app, by_web)
    async with app.db.transaction() as s:
        riley = await resolve(s, "Riley")
    assert (alert.status, alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, riley.id)
    assert _told(drive, by_web) == chat_ack
    page = await (await client.get(f"/alerts/{by_web}?result=changed")).text()
    assert "Done." in page and 'id="acknowledge"' not in page
    response = await client.post(
        f"/alerts/{by_web}/resolve", data={"csrf": token, "note": "called her, she is safe"}
    )
    assert response.status == 200
    await app.sender.drain()
    alert = await load_alert(app, by_web)
    assert (alert.status, alert.resolved_by, alert.note) == (
        AlertStatus.RESOLVED,
        riley.id,
        "called her, she is safe",
    )
    assert _told(drive, by_web) == chat_done
    assert _ids(await (await client.get("/alerts")).text()) == []
    actions = [e.detail["result"] for e in await drive.audits(AuditAction.WEB_ACK)]
    actions += [e.detail["result"] for e in await drive.audits(AuditAction.WEB_DONE)]
    assert actions == ["changed", "changed"]


async def test_a_second_acknowledge_says_who_took_it(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    alert_id = await raise_alert(app, Severity.HIGH)
    await drive.say("sam", f"ACK {alert_id}")
    await sign_in(client, app, console, "Dana")
    token = await csrf(client)
    page = await (await client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": token})).text()
    assert "Already taken by Sam." in page
    assert (await load_alert(app, alert_id)).acknowledged_by == await _id(app, "Sam")


async def _id(app: App, name: str) -> int | None:
    async with app.db.transaction() as s:
        return (await resolve(s, name)).id


async def test_a_spanish_speaker_gets_the_console_in_spanish(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    async with app.db.transaction() as s:
        dana = (await s.scalars(select(Person).where(col(Person.name_key) == "dana"))).one()
        dana.locale = "es"
    await sign_in(client, app, console, "Dana")
    page = await (await client.get("/alerts")).text()
    assert "Alertas" in page and "No hay alertas abiertas." in page and 'lang="es"' in page
