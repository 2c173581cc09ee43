"""The console over HTTP: aiohttp's test client on the whole web app, the care-team program seeded."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.channels.console import ConsoleChannel
from bot.server import make_web_app
from tests.bot.careteam import Driver

CODE = re.compile(r"\b(\d{6})\b")


@pytest.fixture
async def client(app: App, drive: Driver) -> AsyncIterator[TestClient[object, object]]:
    async with TestClient(TestServer(make_web_app(app))) as c:
        yield c


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no {name} field in:\n{html}"
    return found.group(1)


async def ask_code(client: TestClient[object, object], who: str) -> str:
    """GET /login, then POST `who`: the code form's HTML."""
    form = await (await client.get("/login")).text()
    response = await client.post("/login", data={"csrf": field(form, "csrf"), "who": who})
    assert response.status == 200
    return await response.text()


async def code_sent(app: App, console: ConsoleChannel, address: str) -> str:
    await app.sender.drain()
    texts = [m.text for m in console.take(address)]
    codes = [m.group(1) for t in texts if (m := CODE.search(t))]
    assert len(codes) == 1, texts
    return codes[0]


async def type_code(client: TestClient[object, object], page: str, code: str) -> int:
    response = await client.post(
        "/login",
        data={"csrf": field(page, "csrf"), "challenge": field(page, "challenge"), "code": code},
        allow_redirects=False,
    )
    return response.status


async def sign_in(client: TestClient[object, object], app: App, console: ConsoleChannel, who: str) -> None:
    page = await ask_code(client, who)
    assert await type_code(client, page, await code_sent(app, console, who.lower())) == 303


async def csrf(client: TestClient[object, object], path: str = "/alerts") -> str:
    return field(await (await client.get(path)).text(), "csrf")
