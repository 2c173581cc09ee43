"""The alert pages: the queue (`/alerts`, its polled fragment) and one alert with Acknowledge and
Resolve, through the same `Escalation.acknowledge` / `resolve` as the chat commands ACK and DONE, so the
team is told the same way."""

from __future__ import annotations

from aiohttp import web

from bot.staff.grammar import Result
from bot.web.alert_queue import Row, age_parts, alert_in_scope, detail, open_queue
from bot.web.console import Visit, page, redirect
from storage.models import AuditAction, Person, WebSession
from storage.repo import audit


def _age(visit: Visit, row: Row) -> str:
    key, n = age_parts(row.age_minutes)
    return visit.t(key, n=n)


async def _queue(visit: Visit) -> list[Row]:
    """The rows, audited whenever the set shown changes (a poll showing the same list is not a new view)."""
    assert visit.session is not None and visit.staff is not None
    async with visit.console.app.db.transaction() as s:
        rows = await open_queue(s, visit.scope, visit.now)
        ids = [r.id for r in rows]
        session = await s.get(WebSession, visit.session.id)
        if session is not None and session.listed != ids:
            session.listed = ids
            audit(
                s,
                visit.now,
                f"person:{visit.staff.id}",
                AuditAction.WEB_ALERTS_LISTED,
                None,
                alerts=ids,
                people=sorted({r.person_id for r in rows}),
            )
    return rows


@page()
async def alerts(visit: Visit) -> web.StreamResponse:
    return visit.render("alerts.html", rows=await _queue(visit), age=lambda r: _age(visit, r))


@page(fragment=True)
async def alerts_fragment(visit: Visit) -> web.StreamResponse:
    return visit.render("_queue.html", rows=await _queue(visit), age=lambda r: _age(visit, r))


@page()
async def alert_page(visit: Visit) -> web.StreamResponse:
    alert_id = int(visit.request.match_info["id"])
    assert visit.staff is not None
    async with visit.console.app.db.transaction() as s:
        alert = await alert_in_scope(s, visit.scope, alert_id)
        if alert is None:
            return visit.not_found()
        shown = await detail(s, alert, visit.now)
        audit(
            s,
            visit.now,
            f"person:{visit.staff.id}",
            AuditAction.WEB_ALERT_VIEWED,
            alert.person_id,
            alert_id=alert.id,
        )
    result = visit.request.query.get("result", "")
    who = shown.resolved_by if result == Result.ALREADY_RESOLVED else shown.row.acknowledged_by
    message = visit.t(f"result_{result}", who=who or "?") if result in set(Result) else ""
    return visit.render("alert.html", d=shown, age=_age(visit, shown.row), message=message)


async def _change(visit: Visit, *, resolve: bool) -> web.StreamResponse:
    alert_id = int(visit.request.match_info["id"])
    staff = visit.staff
    assert staff is not None
    escalation = visit.console.escalation
    async with visit.console.app.db.transaction() as s:
        alert = await alert_in_scope(s, visit.scope, alert_id, lock=True)
        if alert is None:
            return visit.not_found()
        by = await s.get(Person, staff.id)
        assert by is not None
        if resolve:
            note = " ".join(str(visit.form.get("note", "")).split())
            change = await escalation.resolve(s, alert, by, note, visit.now)
        else:
            change = await escalation.acknowledge(s, alert, by, visit.now)
        audit(
            s,
            visit.now,
            f"person:{staff.id}",
            AuditAction.WEB_DONE if resolve else AuditAction.WEB_ACK,
            alert.person_id,
            alert_id=alert.id,
            result=change.result,
        )
    if change.queued:
        visit.console.app.sender.wake()
    return redirect(f"/alerts/{alert_id}?result={change.result}")


@page()
async def acknowledge(visit: Visit) -> web.StreamResponse:
    return await _change(visit, resolve=False)


@page()
async def resolve(visit: Visit) -> web.StreamResponse:
    return await _change(visit, resolve=True)


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_get("/alerts", alerts)
    web_app.router.add_get("/alerts/fragment", alerts_fragment)
    web_app.router.add_get(r"/alerts/{id:\d{1,12}}", alert_page)
    web_app.router.add_post(r"/alerts/{id:\d{1,12}}/acknowledge", acknowledge)
    web_app.router.add_post(r"/alerts/{id:\d{1,12}}/resolve", resolve)
