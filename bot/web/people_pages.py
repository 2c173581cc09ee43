"""The caseload (`/caseload`) and one PIR's page (`/people/<id>`) with its two forms, Send a message
and Add a contact note, through the same `send_reply` / `add_note` as the chat commands REPLY and NOTE.
Who may see whom is `bot.web.scope`; every page that shows someone's record is audited."""

from __future__ import annotations

from aiohttp import web

from bot.staff.caseload import SCALES, shown_body
from bot.staff.contact import MAX_NOTE_MINUTES, add_note, contact_method, send_reply
from bot.web.caseload_view import SORTS, caseload_page
from bot.web.charts import chart, sparkline
from bot.web.console import Visit, page, redirect
from bot.web.person_view import DAYS, pir_in_scope, record
from flows.numbers import parse_id
from storage.models import AuditAction, ContactMethod, Person
from storage.repo import audit

FLASHES = ("reply_sent", "reply_unreachable", "note_saved", "note_invalid", "message_empty")


@page()
async def caseload(visit: Visit) -> web.StreamResponse:
    assert visit.staff is not None
    query = visit.request.query
    sort = query.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    q = query.get("q", "").strip()[:100]
    open_only = query.get("alerts", "") == "open"
    number = parse_id(query.get("page", "1")) or 1
    async with visit.console.app.db.transaction() as s:
        shown = await caseload_page(s, visit.scope, q=q, open_only=open_only, sort=sort, page=number)
        audit(
            s,
            visit.now,
            f"person:{visit.staff.id}",
            AuditAction.WEB_CASELOAD_LISTED,
            None,
            people=[r.entry.id for r in shown.rows],
        )

    def spark(scale: str, values: tuple[object, ...]) -> object:
        said = ", ".join(str(v) for v in values) or visit.t("no_answers")
        return sparkline(scale, values, visit.t(f"trend_{scale}", values=said))

    return visit.render(
        "caseload.html",
        c=shown,
        sort=sort,
        q=q,
        open_only=open_only,
        scales=SCALES,
        spark=spark,
        sorts=SORTS,
    )


def _days(visit: Visit) -> int:
    asked = parse_id(visit.request.query.get("days", "")) or DAYS[0]
    return asked if asked in DAYS else DAYS[0]


@page()
async def person_page(visit: Visit) -> web.StreamResponse:
    assert visit.staff is not None
    person_id = int(visit.request.match_info["id"])
    days = _days(visit)
    async with visit.console.app.db.transaction() as s:
        person = await pir_in_scope(s, visit.scope, person_id)
        if person is None:
            return visit.not_found()
        shown = await record(s, person, visit.now, days)
        audit(
            s,
            visit.now,
            f"person:{visit.staff.id}",
            AuditAction.WEB_PERSON_VIEWED,
            person_id,
            days=days,
        )
    names = {scale: visit.t(f"scale_{scale}") for scale in SCALES}
    counted = {scale: sum(1 for p in shown.points if p.scale == scale) for scale in SCALES}
    svg = chart(
        shown.points,
        shown.marks,
        shown.start,
        shown.end,
        visit.t("chart_title", name=person.name, days=days),
        visit.t("chart_desc", mood=counted["mood"], craving=counted["craving"], alerts=len(shown.alerts)),
        names,
    )
    flash = visit.request.query.get("flash", "")
    return visit.render(
        "person.html",
        r=shown,
        days=days,
        all_days=DAYS,
        chart=svg,
        body=shown_body,
        methods=list(ContactMethod),
        max_minutes=MAX_NOTE_MINUTES,
        flash=visit.t(f"flash_{flash}", name=person.name) if flash in FLASHES else "",
    )


@page()
async def reply(visit: Visit) -> web.StreamResponse:
    staff = visit.staff
    assert staff is not None
    person_id = int(visit.request.match_info["id"])
    text = " ".join(str(visit.form.get("text", "")).split())[:1000]
    async with visit.console.app.db.transaction() as s:
        person = await pir_in_scope(s, visit.scope, person_id)
        if person is None:
            return visit.not_found()
        if not text:
            return redirect(f"/people/{person_id}?flash=message_empty")
        sender = await s.get(Person, staff.id)
        assert sender is not None
        sent = await send_reply(
            s, visit.console.app.content.messages, sender, person, text, visit.now, f"person:{staff.id}"
        )
    if sent.queued:
        visit.console.app.sender.wake()
    return redirect(f"/people/{person_id}?flash={'reply_sent' if sent.queued else 'reply_unreachable'}")


@page()
async def note(visit: Visit) -> web.StreamResponse:
    staff = visit.staff
    assert staff is not None
    person_id = int(visit.request.match_info["id"])
    minutes = parse_id(str(visit.form.get("minutes", "")))
    method = contact_method(str(visit.form.get("method", "")))
    text = " ".join(str(visit.form.get("note", "")).split())[:2000]
    async with visit.console.app.db.transaction() as s:
        person = await pir_in_scope(s, visit.scope, person_id)
        if person is None:
            return visit.not_found()
        if minutes is None or not 0 < minutes <= MAX_NOTE_MINUTES or method is None or not text:
            return redirect(f"/people/{person_id}?flash=note_invalid")
        sender = await s.get(Person, staff.id)
        assert sender is not None
        await add_note(s, sender, person, minutes, method, text, visit.now, f"person:{staff.id}")
    return redirect(f"/people/{person_id}?flash=note_saved")


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_get("/caseload", caseload)
    web_app.router.add_get(r"/people/{id:\d{1,12}}", person_page)
    web_app.router.add_post(r"/people/{id:\d{1,12}}/reply", reply)
    web_app.router.add_post(r"/people/{id:\d{1,12}}/note", note)
