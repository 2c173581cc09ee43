"""Mounting the console on `peerline serve`'s aiohttp app (`bot.server.make_web_app`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.web import alert_pages, audit_pages, login, people_pages
from bot.web.console import CONSOLE, HERE, Console

if TYPE_CHECKING:
    from bot.app import App


def register(web_app: web.Application, app: App) -> None:
    """The console's pages, its templates and its static files (a style sheet and the poller)."""
    web_app[CONSOLE] = Console(app)
    aiohttp_jinja2.setup(web_app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    web_app.router.add_static("/static/", HERE / "static")
    login.add_routes(web_app)
    alert_pages.add_routes(web_app)
    people_pages.add_routes(web_app)
    audit_pages.add_routes(web_app)
