"""`peerline checkin`, `scheduler` and `schedule`: check-ins now, a scheduler tick, schedule changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.groups import JsonOpt, checkin_app, emit, parse_now, run_with_app, schedule_app, scheduler_app
from bot.errors import UserError
from storage.models import Role

if TYPE_CHECKING:
    from bot.app import App


# -- check-ins and scheduler ----------------------------------------------------------------------


@checkin_app.command("send")
def checkin_send(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    flow: Annotated[str | None, typer.Option(help="Flow id (default by role)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a check-in now."""
    from bot.checkins.sessions import start_checkin  # noqa: PLC0415
    from bot.people.enrolment import FLOW_FOR_ROLE, resolve  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            person = await resolve(s, who)
            flow_id = flow or FLOW_FOR_ROLE.get(Role(person.role))
            if flow_id is None:
                raise UserError(f"{person.name} is a {person.role}; pass --flow to choose a flow")
            session = await start_checkin(
                s, a.content, person, flow_id, a.clock.now(), a.buttons, actor="cli"
            )
            if session is None:
                raise UserError(f"{person.name} has no channel we may write to (opted out or unreachable)")
            return {"session_id": session.id, "person_id": person.id, "flow": flow_id}

    result = run_with_app(work)
    emit(
        as_json,
        result,
        f"started {result['flow']} for person {result['person_id']} (session {result['session_id']})",
    )


@scheduler_app.command("tick")
def scheduler_tick(
    now: Annotated[
        str | None, typer.Option(help="Run the tick as if it were this instant (ISO 8601)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one scheduler tick."""
    from bot.checkins.tick import tick  # noqa: PLC0415

    when = parse_now(now)

    async def work(a: App) -> dict[str, int]:
        report = await tick(a, when)
        return {
            "started": report.started,
            "reminded": report.reminded,
            "expired": report.expired,
            "missed": report.missed,
            "skipped": report.skipped,
            "deferred": report.deferred,
            "escalated": report.escalated,
        }

    result = run_with_app(work)
    emit(as_json, result, ", ".join(f"{k}: {v}" for k, v in result.items()))


@schedule_app.command("set")
def schedule_set(
    who: Annotated[str, typer.Argument(help="Person id or unique name")],
    time: Annotated[str | None, typer.Option("--time", help="Check-in time, HH:MM local")] = None,
    days: Annotated[str | None, typer.Option(help="Days, e.g. mon,tue,wed,thu,fri")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone")] = None,
    pause: Annotated[bool | None, typer.Option("--pause/--resume", help="Pause or resume check-ins")] = None,
    flow: Annotated[
        str | None, typer.Option("--flow", help="Another flow on its own schedule, e.g. barc10 (weekly)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change when a person's check-ins come (from the next occurrence on); with --flow, schedule that
    flow for them too."""
    from bot.checkins.schedule_changes import update_schedule  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            if flow is not None:
                a.content.flow(flow)  # an unknown flow is one line naming the known ones
            schedule = await update_schedule(
                s,
                a.clock.now(),
                who,
                time=time,
                days=days,
                timezone=timezone,
                paused=pause,
                flow=flow,
                quiet=a.settings.quiet_window,
            )
            return schedule.model_dump()

    result = run_with_app(work, channels=False)
    emit(
        as_json,
        result,
        f"{result['flow_id']} at {result['local_time']} on {result['days']}"
        f"{' (paused)' if result['paused'] else ''}; next: {result['next_due_at']}",
    )
