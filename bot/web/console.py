"""The console's HTTP frame: every page's headers, its session, its CSRF check and its words.

Each handler is wrapped by `page`: it finds the session (signed-in pages send everyone else to `/login`),
refuses a POST whose form lacks the CSRF token with a 403, and answers with `Cache-Control: no-store`
and a content security policy that allows only this origin's own style sheet and script.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from bot.web import sessions
from bot.web.scope import Scope, scope_of
from bot.web.words import browser_locale, text
from storage.models import Person, WebSession

if TYPE_CHECKING:
    from bot.alerts.lifecycle import Escalation
    from bot.app import App

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass
class Console:
    """What the console's handlers share: the wired app and one escalation lifecycle."""

    app: App
    _escalation: Escalation | None = field(default=None, repr=False)

    @property
    def escalation(self) -> Escalation:
        if self._escalation is None:
            from bot.alerts.lifecycle import Escalation  # noqa: PLC0415  (loads the content)

            self._escalation = Escalation(self.app.content, self.app.buttons)
        return self._escalation

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.app.settings.web_session_idle_minutes)


CONSOLE = web.AppKey("peerline.console", Console)


@dataclass
class Visit:
    """One request as a handler sees it."""

    request: web.Request
    console: Console
    now: datetime
    locale: str
    csrf: str
    form: MultiDictProxy[str | Any] = field(default_factory=lambda: MultiDictProxy(MultiDict()))
    session: WebSession | None = None
    staff: Person | None = None

    @property
    def client(self) -> str:
        return client_address(self.request)

    @property
    def scope(self) -> Scope:
        """Whom the signed-in staff member may see (`bot.web.scope`)."""
        assert self.staff is not None and self.staff.id is not None
        return scope_of(self.staff.role, self.staff.id)

    def t(self, key: str, **values: Any) -> str:
        return text(self.locale, key, **values)

    def when(self, at: datetime | None, *, time: bool = True) -> str:
        """A moment in the staff member's own time zone ("" for none)."""
        if at is None:
            return ""
        local = at.astimezone(ZoneInfo(self.staff.timezone if self.staff else "UTC"))
        return f"{local:%Y-%m-%d %H:%M}" if time else f"{local:%Y-%m-%d}"

    def render(self, template: str, status: int = 200, **context: Any) -> web.Response:
        context.update(
            t=self.t,
            csrf=self.csrf,
            staff=self.staff,
            locale=self.locale,
            when=self.when,
            path=self.request.path,
        )
        return aiohttp_jinja2.render_template(template, self.request, context, status=status)

    def not_found(self) -> web.Response:
        return self.render("message.html", status=404, message=self.t("not_found"))


def client_address(request: web.Request) -> str:
    """Who asked: the address the proxy in front saw (the last X-Forwarded-For hop), else the peer."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    return hops[-1] if hops else (request.remote or "")


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="Lax", secure=is_https(request) or None
    )


Handler = Callable[[Visit], Awaitable[web.StreamResponse]]
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page(*, signed_in: bool = True, fragment: bool = False) -> Callable[[Handler], RouteHandler]:
    """Wrap a console handler; a `fragment` (polled by the queue page) does not restart the idle clock,
    so an open tab nobody touches still signs out, and answers 401 instead of a redirect."""

    def wrap(handler: Handler) -> RouteHandler:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            console = request.app[CONSOLE]
            now = console.app.clock.now()
            async with console.app.db.transaction() as s:
                found = await sessions.current(
                    s, request.cookies.get(sessions.COOKIE), now, console.idle, touch=not fragment
                )
            pre = request.cookies.get(sessions.PRE_COOKIE, "")
            new_pre = "" if pre or found else secrets.token_urlsafe(24)
            visit = Visit(
                request,
                console,
                now,
                found.person.locale if found else browser_locale(request.headers.get("Accept-Language")),
                found.session.csrf if found else (pre or new_pre),
                session=found.session if found else None,
                staff=found.person if found else None,
            )
            if signed_in and found is None:
                response: web.StreamResponse = (
                    web.Response(status=401, text="signed out") if fragment else redirect("/login")
                )
            elif request.method == "POST" and not await _csrf_ok(request, visit, pre):
                response = visit.render("message.html", status=403, message=visit.t("forbidden"))
            else:
                response = await handler(visit)
            if new_pre:
                set_cookie(request, response, sessions.PRE_COOKIE, new_pre)
            response.headers["Cache-Control"] = "no-store"
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        return run

    return wrap


async def _csrf_ok(request: web.Request, visit: Visit, pre: str) -> bool:
    visit.form = await request.post()
    given = visit.form.get("csrf", "")
    expected = visit.session.csrf if visit.session is not None else pre
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given, expected)
