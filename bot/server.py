"""`peerline serve`: the HTTP app, the scheduler clock and the outbox sender in one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.app import App, freeze_startup_heap
from bot.channels.sms.adapter import SmsChannel
from bot.channels.sms.webhooks import SmsWebhooks
from bot.channels.telegram.runtime import add_webhook_route, start_telegram, telegram_mode
from bot.checkins.tick import tick
from bot.logs import configure_logging
from bot.ops.health import probe
from bot.ops.metrics import CONTENT_TYPE, scrape
from bot.web.routes import register as register_console
from config.settings import Settings

log = logging.getLogger(__name__)

APP_KEY = web.AppKey("peerline", App)


async def healthz(request: web.Request) -> web.Response:
    """The database answers; the outbox's depth and the sender's lag (the oldest due row's age)."""
    app = request.app[APP_KEY]
    health = await probe(app.db, app.clock.now())
    body = {
        "status": "ok" if health.ok else "unavailable",
        "database": health.database,
        "channels": sorted(app.channels),
        "outbox_undelivered": health.undelivered,
        "sender_lag_seconds": health.sender_lag_seconds,
    }
    return web.json_response(body, status=200 if health.ok else 503)


async def readyz(request: web.Request) -> web.Response:
    """For a load balancer: 200 when this process can take traffic (its database answers), else 503."""
    app = request.app[APP_KEY]
    health = await probe(app.db, app.clock.now())
    return web.json_response(
        {"ready": health.ok, "database": health.database}, status=200 if health.ok else 503
    )


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format, read from the database (`bot.ops.metrics`)."""
    app = request.app[APP_KEY]
    body = await scrape(app.db, app.clock.now())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def make_web_app(app: App) -> web.Application:
    web_app = web.Application()
    web_app[APP_KEY] = app
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/metrics", metrics)
    SmsWebhooks(app).register(web_app)
    add_webhook_route(web_app, app)
    register_console(web_app, app)
    return web_app


async def serve(settings: Settings, host: str, port: int, *, json_logs: bool = False) -> None:
    mode = telegram_mode(settings)  # refuses a webhook without a secret before anything starts
    configure_logging(json_lines=json_logs)
    app = App.build(settings)
    await app.db.upgrade()  # refuses a database the key does not open before anything starts
    sms = SmsChannel.from_settings(settings)
    if sms is not None:
        app.add_channel(sms)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(make_web_app(app))
    freeze_startup_heap()
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    scheduler = AsyncIOScheduler()

    async def scheduled_tick() -> None:
        try:
            await tick(app)
        except Exception:
            log.exception("scheduler tick failed")

    scheduler.add_job(
        scheduled_tick, "interval", seconds=settings.tick_seconds, max_instances=1, coalesce=True
    )
    scheduler.start()
    sender = asyncio.create_task(app.sender.run(stop))
    telegram = start_telegram(app, mode)
    log.info("peerline serving on http://%s:%s (channels: %s)", host, port, ", ".join(app.channels) or "none")
    try:
        await stop.wait()
    finally:
        if telegram is not None:
            await telegram.stop()
        scheduler.shutdown(wait=False)
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        await runner.cleanup()
        await app.close()
        log.info("peerline stopped")
