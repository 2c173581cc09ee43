"""`/healthz` and `/readyz` over HTTP: the database checked, the sender's lag measured, a database that
does not answer is a 503 with the reason (never a 500)."""

from __future__ import annotations

import socket
from datetime import timedelta

from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.clock import ManualClock
from bot.outbox.queue import queue_to
from bot.server import make_web_app
from config.settings import Settings
from storage.models import MessageKind

TEXT = MessageKind.TEXT


async def _get(app: App, path: str) -> tuple[int, dict[str, object]]:
    async with TestClient(TestServer(make_web_app(app))) as client:
        response = await client.get(path)
        return response.status, await response.json()


async def test_healthy_with_an_empty_outbox(app: App) -> None:
    status, body = await _get(app, "/healthz")
    assert status == 200
    assert body["status"] == "ok" and body["database"] == "ok"
    assert (body["outbox_undelivered"], body["sender_lag_seconds"]) == (0, 0.0)
    assert body["channels"] == ["console"]
    assert await _get(app, "/readyz") == (200, {"ready": True, "database": "ok"})


async def test_the_sender_lag_is_the_age_of_the_oldest_due_undelivered_message(
    app: App, clock: ManualClock
) -> None:
    async with app.db.transaction() as s:
        queue_to(
            s,
            channel="console",
            address="alex",
            person_id=None,
            text="one",
            kind=MessageKind.TEXT,
            now=clock.now(),
        )
    clock.advance(timedelta(minutes=5))
    async with app.db.transaction() as s:  # queued now: due, but not late yet
        queue_to(
            s,
            channel="console",
            address="blair",
            person_id=None,
            text="two",
            kind=MessageKind.TEXT,
            now=clock.now(),
        )
    status, body = await _get(app, "/healthz")
    assert status == 200
    assert (body["outbox_undelivered"], body["sender_lag_seconds"]) == (2, 300.0)
    await app.sender.drain()
    status, body = await _get(app, "/healthz")
    assert (body["outbox_undelivered"], body["sender_lag_seconds"]) == (0, 0.0)


async def test_a_database_that_does_not_answer_is_a_503_with_the_reason() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on: the server is down
    port = closed.getsockname()[1]
    closed.close()
    app = App.build(
        Settings(database_url=f"postgresql+asyncpg://peerline:x@127.0.0.1:{port}/peerline"), channels={}
    )
    try:
        status, body = await _get(app, "/healthz")
        assert status == 503
        assert body["status"] == "unavailable"
        assert str(body["database"]).startswith("unavailable: ")
        ready_status, ready = await _get(app, "/readyz")
        assert ready_status == 503 and ready["ready"] is False
    finally:
        await app.close()
