"""What `peerline serve` logs at INFO: its own events, not a line per scheduler tick, not the Twilio client's
requests, never a message body."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.base import OutboundMessage, Sent
from bot.logs import QUIET, configure_logging
from tests.fakes.serve_process import ServeProcess, free_port
from tests.fakes.twilio import FakeTwilio, sms_channel

BODY = "Hi Alex, SECRET-BODY of a check-in"


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """`configure_logging` into a buffer; the logging set-up of the test session is put back after."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {name: logging.getLogger(name).level for name in QUIET})
    stream = io.StringIO()
    configure_logging(stream=stream)
    yield stream
    for handler in root.handlers:
        if handler not in saved[1]:
            root.removeHandler(handler)
    root.setLevel(saved[0])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def test_info_logs_keep_our_lines_and_drop_ticks_headers_and_bodies(logs: io.StringIO) -> None:
    logging.getLogger("bot.server").info("peerline serving")
    ticked = asyncio.Event()
    scheduler = AsyncIOScheduler()
    scheduler.add_job(ticked.set, "interval", seconds=0.05, max_instances=1, coalesce=True)
    scheduler.start()
    await asyncio.wait_for(ticked.wait(), 5)
    await asyncio.sleep(0.2)  # a few more ticks
    scheduler.shutdown(wait=False)
    twilio = FakeTwilio()
    await twilio.start()
    sms = sms_channel(twilio.url)
    try:
        result = await sms.send(
            OutboundMessage(message_id=1, channel="sms", address="+12025550143", text=BODY)
        )
    finally:
        await sms.close()
        await twilio.close()
    assert isinstance(result, Sent)
    assert twilio.bodies_to("+12025550143") == [BODY]  # it was sent, with its body ...
    text = logs.getvalue()
    assert "INFO bot.server: peerline serving" in text
    noise = ("Running job", "executed successfully", "Twilio API Request", "Headers", "User-Agent", BODY)
    for line in noise:
        assert line not in text, (line, text)  # ... and none of it was logged


def test_serve_json_logs_are_one_object_per_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    configure_logging(stream=stream, json_lines=True)
    try:
        logging.getLogger("bot.outbox.sender").info("will retry message %s in %.1fs", 12, 2.0)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("bot.server").exception("scheduler tick failed")
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                root.removeHandler(handler)
        root.setLevel(saved[0])
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["level"], first["logger"], first["message"]) == (
        "INFO",
        "bot.outbox.sender",
        "will retry message 12 in 2.0s",
    )
    assert first["time"].endswith("+00:00")
    assert second["message"] == "scheduler tick failed" and "RuntimeError: boom" in second["traceback"]


async def test_a_request_aiohttp_cannot_parse_is_one_warning_line_not_a_traceback(logs: io.StringIO) -> None:
    from aiohttp import web  # noqa: PLC0415

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    web_app = web.Application()
    web_app.router.add_get("/healthz", ok)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        for request, answer in (
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", b" 400 "),
            (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b" 400 "),
            # answered without reading the body, which aiohttp then reads and cannot decode (found by
            # tests/bot/test_webhook_fuzz.py)
            (
                b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\n"
                b"notgzip",
                b" 405 ",
            ),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            writer.close()
            assert answer in status, status
    finally:
        await runner.cleanup()
    lines = [line for line in logs.getvalue().splitlines() if "aiohttp.server" in line]
    assert len(lines) == 3, logs.getvalue()
    assert all(" WARNING aiohttp.server: refused a malformed HTTP request: 400 " in line for line in lines)
    assert "Traceback" not in logs.getvalue()


def test_a_phone_number_in_any_line_or_traceback_is_masked(logs: io.StringIO) -> None:
    log = logging.getLogger("bot.outbox.sender")
    log.info("will retry message 7: The 'To' number +14155550123 is not a valid phone number")
    try:
        raise ValueError("refused +1 (415) 555-0199")
    except ValueError:
        log.exception("channel sms raised")
    written = logs.getvalue()
    assert "4155550123" not in written and "555-0199" not in written
    assert written.count("+[number]") == 3  # the line, the traceback's message and its last line
    assert "will retry message 7" in written and "Traceback" in written


async def test_serve_logs_json_lines_when_the_setting_says_so(tmp_path: Path) -> None:
    """`PEERLINE_LOG_FORMAT=json`, no flag: every line `serve` writes is one JSON object."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PEERLINE_")},
        "PEERLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}",
        "PEERLINE_LOG_FORMAT": "json",
    }
    serve = ServeProcess(tmp_path, env, port)
    await serve.start()
    try:
        await serve.healthy()
    finally:
        assert await serve.stop() == 0
    lines = [line for line in serve.logs[-1].read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    records = [json.loads(line) for line in lines]  # a plain-text line would not parse
    assert all(isinstance(r, dict) for r in records)
