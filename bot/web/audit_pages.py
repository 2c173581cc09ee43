"""`/audit`: the audit log for supervisors and admins (anyone else gets the same 404 as a missing page).
Reading the log is itself audited."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.web.alert_queue import names
from bot.web.audit_view import READERS, Filters, day, events
from bot.web.console import Visit, page
from flows.numbers import parse_id
from storage.models import AuditAction
from storage.repo import audit


def _filters(query: Any) -> Filters:
    return Filters(
        person=parse_id(query.get("person", "")),
        actor=query.get("actor", "").strip()[:100],
        action=query.get("action", "").strip()[:100],
        start=day(query.get("from", "")),
        end=day(query.get("to", "")),
        before=parse_id(query.get("before", "")),
    )


def _detail(detail: dict[str, Any]) -> str:
    return json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)[:300]


@page()
async def audit_log(visit: Visit) -> web.StreamResponse:
    staff = visit.staff
    assert staff is not None
    if staff.role not in READERS:
        return visit.not_found()
    f = _filters(visit.request.query)
    async with visit.console.app.db.transaction() as s:
        shown, before = await events(s, visit.scope, f)
        ids = [e.person_id for e in shown]
        ids += [int(e.actor.split(":", 1)[1]) for e in shown if e.actor.startswith("person:")]
        named = await names(s, [i for i in ids if i is not None])
        audit(
            s,
            visit.now,
            f"person:{staff.id}",
            AuditAction.WEB_AUDIT_VIEWED,
            f.person,
            by_actor=f.actor,
            by_action=f.action,
            start=str(f.start or ""),
            end=str(f.end or ""),
        )
    kept = {
        k: v
        for k, v in {
            "person": f.person or "",
            "actor": f.actor,
            "action": f.action,
            "from": f.start or "",
            "to": f.end or "",
        }.items()
        if v
    }

    def actor_name(actor: str) -> str:
        key = actor.split(":", 1)[1] if actor.startswith("person:") else ""
        return f"{named[int(key)]} ({actor})" if key.isdigit() and int(key) in named else actor

    return visit.render(
        "audit.html",
        events=shown,
        f=f,
        named=named,
        actor_name=actor_name,
        detail=_detail,
        next_page=f"/audit?{urlencode({**kept, 'before': before})}" if before is not None else "",
    )


def add_routes(web_app: web.Application) -> None:
    web_app.router.add_get("/audit", audit_log)
