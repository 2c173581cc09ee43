"""Signing in to the staff console: a code over the person's own channel, five tries, ten minutes, the
same answer for nobody, a rate limit, sessions that idle out, CSRF on every form, the sign-in link."""

from __future__ import annotations

import re
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.clock import ManualClock
from bot.people.names import resolve
from bot.web.signin import REQUESTS_PER_CLIENT, create_link
from storage.models import Outbox, WebSignIn
from tests.bot.careteam import Driver
from tests.bot.web.conftest import ask_code, code_sent, csrf, field, sign_in, type_code

Client = TestClient[object, object]


async def _outbox(app: App) -> list[Outbox]:
    async with app.db.transaction() as s:
        return list((await s.scalars(select(Outbox).order_by(col(Outbox.id)))).all())


async def test_a_known_and_an_unknown_who_get_the_same_page(client: Client, app: App) -> None:
    known = await ask_code(client, "Sam")
    unknown = await ask_code(client, "Nobody Atall")
    assert field(known, "challenge") != field(unknown, "challenge")
    same = re.compile(r'name="challenge" value="[^"]*"')
    assert same.sub("", known) == same.sub("", unknown)
    assert "6-digit code" in known


async def test_the_code_goes_to_the_outbox_for_the_staff_members_own_channel(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    await ask_code(client, "Nobody Atall")
    assert await _outbox(app) == []  # nobody named: nothing sent
    await ask_code(client, "sam")  # found by name, any case
    rows = await _outbox(app)
    assert [(r.channel, r.address) for r in rows] == [("console", "sam")]
    assert re.search(r"\b\d{6}\b", rows[0].body)
    async with app.db.transaction() as s:
        stored = (await s.scalars(select(WebSignIn))).all()
    code = re.search(r"\b(\d{6})\b", rows[0].body)
    assert code is not None
    assert all(code.group(1) not in (r.code_hash or "") for r in stored)  # only hashes
    assert len(await code_sent(app, console, "sam")) == 6


async def test_the_right_code_signs_in_with_a_safe_cookie(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    assert (await client.get("/alerts", allow_redirects=False)).headers["Location"] == "/login"
    page = await ask_code(client, "Sam")
    response = await client.post(
        "/login",
        data={
            "csrf": field(page, "csrf"),
            "challenge": field(page, "challenge"),
            "code": await code_sent(app, console, "sam"),
        },
        allow_redirects=False,
    )
    assert (response.status, response.headers["Location"]) == (303, "/alerts")
    cookie = response.headers["Set-Cookie"]
    assert "peerline_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here
    alerts = await client.get("/alerts")
    assert alerts.status == 200 and "Signed in as Sam" in await alerts.text()
    assert alerts.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in alerts.headers["Content-Security-Policy"]
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"


async def test_five_wrong_codes_lock_the_code(client: Client, app: App, console: ConsoleChannel) -> None:
    page = await ask_code(client, "Sam")
    right = await code_sent(app, console, "sam")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):
        assert await type_code(client, page, wrong) == 403
    assert await type_code(client, page, right) == 403  # locked: even the right code
    assert (await client.get("/alerts", allow_redirects=False)).status == 303


async def test_an_expired_code_is_refused(
    client: Client, app: App, console: ConsoleChannel, clock: ManualClock
) -> None:
    page = await ask_code(client, "Sam")
    right = await code_sent(app, console, "sam")
    clock.advance(timedelta(minutes=10))
    assert await type_code(client, page, right) == 403
    again = await ask_code(client, "Sam")
    assert await type_code(client, again, await code_sent(app, console, "sam")) == 303


async def test_any_code_typed_for_nobody_fails(client: Client) -> None:
    page = await ask_code(client, "Nobody Atall")
    assert await type_code(client, page, "123456") == 403


async def test_a_pir_cannot_sign_in(client: Client, app: App) -> None:
    await ask_code(client, "alex")  # Alex's own console address: a PIR, not staff
    assert await _outbox(app) == []


async def test_sign_in_requests_are_limited_per_address(client: Client) -> None:
    form = await (await client.get("/login")).text()
    statuses = []
    for _ in range(REQUESTS_PER_CLIENT + 1):
        response = await client.post("/login", data={"csrf": field(form, "csrf"), "who": "Nobody"})
        statuses.append(response.status)
    assert statuses == [200] * REQUESTS_PER_CLIENT + [429]
    other = await client.post(
        "/login", data={"csrf": field(form, "csrf"), "who": "Nobody"}, headers={"X-Forwarded-For": "10.0.0.9"}
    )
    assert other.status == 200  # another address behind the proxy is not held up


async def test_a_post_without_the_csrf_token_is_refused(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    await client.get("/login")
    assert (await client.post("/login", data={"who": "Sam"})).status == 403
    assert (await client.post("/login", data={"who": "Sam", "csrf": "forged"})).status == 403
    assert await _outbox(app) == []
    await sign_in(client, app, console, "Sam")
    assert (await client.post("/logout", data={}, allow_redirects=False)).status == 403
    assert (await client.get("/alerts")).status == 200  # still signed in


async def test_an_idle_session_ends_and_sign_out_ends_it_at_once(
    client: Client, app: App, console: ConsoleChannel, clock: ManualClock
) -> None:
    await sign_in(client, app, console, "Sam")
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/alerts", allow_redirects=False)).status == 200  # restarts the idle clock
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/alerts/fragment")).status == 200  # polling does not restart it
    clock.advance(timedelta(minutes=1))
    assert (await client.get("/alerts/fragment")).status == 401
    assert (await client.get("/alerts", allow_redirects=False)).headers["Location"] == "/login"
    await sign_in(client, app, console, "Sam")
    token = await csrf(client)
    response = await client.post("/logout", data={"csrf": token}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
    assert (await client.get("/alerts", allow_redirects=False)).status == 303


async def test_the_cookies_are_secure_behind_https(client: Client, app: App, console: ConsoleChannel) -> None:
    first = await client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in first.headers["Set-Cookie"]
    form = await first.text()
    # The test client speaks plain http, so its jar keeps Secure cookies back: the browser's part, by hand.
    https = {"X-Forwarded-Proto": "https", "Cookie": f"peerline_csrf={field(form, 'csrf')}"}
    page = await (
        await client.post("/login", data={"csrf": field(form, "csrf"), "who": "Sam"}, headers=https)
    ).text()
    response = await client.post(
        "/login",
        data={
            "csrf": field(page, "csrf"),
            "challenge": field(page, "challenge"),
            "code": await code_sent(app, console, "sam"),
        },
        headers=https,
        allow_redirects=False,
    )
    assert response.status == 303
    assert "Secure" in response.headers["Set-Cookie"]


async def test_a_sign_in_link_works_once(client: Client, app: App, drive: Driver) -> None:
    async with app.db.transaction() as s:
        token = await create_link(s, await resolve(s, "Dana"), app.clock.now())
    page = await (await client.get(f"/login/link/{token}")).text()  # a previewer's GET uses nothing
    page = await (await client.get(f"/login/link/{token}")).text()
    response = await client.post(
        f"/login/link/{token}", data={"csrf": field(page, "csrf")}, allow_redirects=False
    )
    assert (response.status, response.headers["Location"]) == (303, "/alerts")
    assert "Signed in as Dana" in await (await client.get("/alerts")).text()
    assert (await client.get(f"/login/link/{token}")).status == 404


async def test_the_sign_in_speaks_the_browsers_language_and_the_code_the_persons(
    client: Client, app: App, console: ConsoleChannel
) -> None:
    page = await (await client.get("/login", headers={"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"})).text()
    assert "Iniciar sesión" in page and 'lang="es"' in page
    async with app.db.transaction() as s:
        (await resolve(s, "Dana")).locale = "es"
    await ask_code(client, "Dana")
    await app.sender.drain()
    [message] = console.take("dana")
    assert message.text.startswith("Tu código para entrar a la consola del personal: ")
