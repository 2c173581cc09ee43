"""`/audit` in the console: supervisors and admins only (a peer gets the 404 of a missing page), newest
first, filtered by person, actor, action and dates, paged; a supervisor reads only their PIRs' events."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp.test_utils import TestClient

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.people.enrolment import add_person, assign, resolve
from bot.web.audit_view import PAGE_SIZE
from storage.models import AuditAction, Role
from storage.repo import audit
from tests.bot.careteam import Driver
from tests.bot.web.conftest import sign_in

Client = TestClient[object, object]


def _events(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-event-id="(\d+)"', html)]


def _actions(html: str) -> list[str]:
    return re.findall(r'<td class="action">([^<]+)</td>', html)


async def _ids(app: App, *names: str) -> list[int]:
    async with app.db.transaction() as s:
        found = [(await resolve(s, n)).id for n in names]
    return [i for i in found if i is not None]


async def test_a_peer_gets_404_and_sees_no_link(client: Client, app: App, console: ConsoleChannel) -> None:
    await sign_in(client, app, console, "Sam")
    response = await client.get("/audit")
    assert response.status == 404
    assert 'href="/audit"' not in await (await client.get("/alerts")).text()


async def test_filters_by_person_actor_action_and_dates(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.ADMIN, name="Ada", console="ada")
        await add_person(s, app.clock.now(), role=Role.PIR, name="Blair", console="blair")
        await assign(s, app.clock.now(), pir="Blair", peer="Pat")
    alex, blair, sam, pat = await _ids(app, "Alex", "Blair", "Sam", "Pat")
    day1 = app.clock.now()
    async with app.db.transaction() as s:
        audit(s, day1, f"person:{sam}", AuditAction.PEER_HISTORY, alex)
        audit(s, day1 + timedelta(days=1), f"person:{pat}", AuditAction.PEER_HISTORY, blair)
        audit(s, day1 + timedelta(days=2), f"person:{sam}", AuditAction.CONTACT_NOTED, alex, minutes=20)
    drive.clock.advance(timedelta(days=3))
    await sign_in(client, app, console, "Ada")

    async def actions(query: str) -> list[str]:
        response = await client.get(f"/audit?{query}")
        assert response.status == 200
        mine = ("peer.history", "contact.noted")  # the seeding wrote others (person.created, ...)
        return [a for a in _actions(await response.text()) if a in mine]

    assert (await actions(""))[:3] == ["contact.noted", "peer.history", "peer.history"]  # newest first
    assert await actions(f"person={alex}") == ["contact.noted", "peer.history"]
    assert await actions(f"actor=person:{pat}") == ["peer.history"]
    assert await actions(f"actor={pat}") == ["peer.history"]  # a bare id is a person
    assert await actions("action=contact.noted") == ["contact.noted"]
    assert await actions("action=peer.") == ["peer.history", "peer.history"]
    to = (day1 + timedelta(days=1)).date().isoformat()
    assert await actions(f"person={blair}&from={to}&to={to}") == ["peer.history"]
    assert await actions(f"person={alex}&from={to}&to={to}") == []
    assert await actions(f"to={day1.date().isoformat()}&action=peer.") == ["peer.history"]
    page = await (await client.get(f"/audit?person={alex}")).text()
    assert f"Sam (person:{sam})" in page and "&#34;minutes&#34;: 20" in page
    viewed = await drive.audits(AuditAction.WEB_AUDIT_VIEWED)
    assert viewed[1].detail["by_actor"] == "" and viewed[1].person_id == alex


async def test_pages_newest_first_without_repeating(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    (alex,) = await _ids(app, "Alex")
    async with app.db.transaction() as s:
        for i in range(PAGE_SIZE + 5):
            audit(s, app.clock.now(), "system", AuditAction.PEER_HISTORY, alex, n=i)
    await sign_in(client, app, console, "Dana")
    first = await (await client.get(f"/audit?person={alex}&action=peer.history")).text()
    link = re.search(r'<a href="([^"]+)" rel="next">', first)
    assert link is not None
    second = await (await client.get(link.group(1).replace("&amp;", "&"))).text()
    ids = _events(first) + _events(second)
    assert len(_events(first)) == PAGE_SIZE and len(ids) == PAGE_SIZE + 5
    assert ids == sorted(ids, reverse=True)
    assert 'rel="next"' not in second


async def test_a_supervisor_reads_only_events_about_their_pirs(
    client: Client, app: App, console: ConsoleChannel, drive: Driver
) -> None:
    async with app.db.transaction() as s:
        await add_person(s, app.clock.now(), role=Role.PIR, name="Blair", console="blair")
        await assign(s, app.clock.now(), pir="Blair", peer="Pat")
    alex, blair = await _ids(app, "Alex", "Blair")
    async with app.db.transaction() as s:
        audit(s, app.clock.now(), "system", AuditAction.PEER_HISTORY, blair)
        audit(s, app.clock.now(), "system", AuditAction.PEER_HISTORY, alex)
    await sign_in(client, app, console, "Dana")
    page = await (await client.get("/audit?action=peer.history")).text()
    assert _actions(page) == ["peer.history"]
    assert f"({alex})" in page and f"({blair})" not in page
    assert await (await client.get(f"/audit?person={blair}")).text() != page
    assert _events(await (await client.get(f"/audit?person={blair}")).text()) == []
