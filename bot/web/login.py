"""The sign-in pages: `who` → a code over the person's channel → a session; the link; sign-out."""

from __future__ import annotations

from aiohttp import web

from bot.web import sessions, signin
from bot.web.console import Visit, page, redirect, set_cookie


@page(signed_in=False)
async def login_form(visit: Visit) -> web.StreamResponse:
    if visit.staff is not None:
        return redirect("/alerts")
    return visit.render("login.html")


@page(signed_in=False)
async def login_post(visit: Visit) -> web.StreamResponse:
    """`who` asks for a code; `challenge` with `code` signs in."""
    app = visit.console.app
    challenge = str(visit.form.get("challenge", ""))
    if not challenge:
        async with app.db.transaction() as s:
            requested = await signin.request_code(s, str(visit.form.get("who", "")), visit.client, visit.now)
        if requested.queued:
            app.sender.wake()
        if requested.limited:
            return visit.render("login.html", status=429, error=visit.t("rate_limited"))
        return visit.render("code.html", challenge=requested.challenge)
    async with app.db.transaction() as s:
        checked = await signin.check_code(
            s, challenge, str(visit.form.get("code", "")), visit.client, visit.now
        )
        token = await sessions.start(s, checked.person, visit.now, how="code") if checked.person else ""
    if checked.dead:
        return visit.render("login.html", status=403, error=visit.t("code_dead"))
    if not token:
        error = visit.t("code_wrong", left=checked.left)
        return visit.render("code.html", status=403, challenge=challenge, error=error)
    return _signed_in(visit, token)


def _signed_in(visit: Visit, token: str) -> web.StreamResponse:
    response = redirect("/alerts")
    set_cookie(visit.request, response, sessions.COOKIE, token)
    return response


@page(signed_in=False)
async def link_form(visit: Visit) -> web.StreamResponse:
    """A sign-in link shows a button: a link previewer fetching it does not use it up."""
    token = visit.request.match_info["token"]
    async with visit.console.app.db.transaction() as s:
        live = await signin.link_is_live(s, token, visit.now)
    if not live:
        return visit.render("login.html", status=404, error=visit.t("link_dead"))
    return visit.render("link.html", token=token)


@page(signed_in=False)
async def link_post(visit: Visit) -> web.StreamResponse:
    token = visit.request.match_info["token"]
    async with visit.console.app.db.transaction() as s:
        person = await signin.redeem_link(s, token, visit.client, visit.now)
        session_token = await sessions.start(s, person, visit.now, how="link") if person else ""
    if not session_token:
        return visit.render("login.html", status=404, error=visit.t("link_dead"))
    return _signed_in(visit, session_token)


@page()
async def logout(visit: Visit) -> web.StreamResponse:
    assert visit.session is not None
    async with visit.console.app.db.transaction() as s:
        session = await s.merge(visit.session)
        sessions.end(s, session, visit.now)
    response = redirect("/login")
    response.del_cookie(sessions.COOKIE, path="/")
    return response


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_get("/login", login_form)
    web_app.router.add_post("/login", login_post)
    web_app.router.add_get("/login/link/{token}", link_form)
    web_app.router.add_post("/login/link/{token}", link_post)
    web_app.router.add_post("/logout", logout)
