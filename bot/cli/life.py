"""`peerline people edit|discharge|readmit` and `peerline caseload transfer`: the life of an enrolment
(`bot.people.life`); every change audited, no history deleted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.groups import JsonOpt, app, emit, people_app, run_with_app

if TYPE_CHECKING:
    from bot.app import App

caseload_app = typer.Typer(help="Caseloads: hand a peer's people to another peer.", no_args_is_help=True)
app.add_typer(caseload_app, name="caseload")

WhoArg = Annotated[str, typer.Argument(help="Person id or unique name")]


@people_app.command("edit")
def people_edit(
    who: WhoArg,
    name: Annotated[str | None, typer.Option(help="New display name")] = None,
    phone: Annotated[str | None, typer.Option(help="New phone number, E.164 (+15551234567)")] = None,
    telegram: Annotated[str | None, typer.Option(help="New Telegram chat id")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. America/Chicago")] = None,
    locale: Annotated[str | None, typer.Option(help="en or es")] = None,
    checkin_time: Annotated[str | None, typer.Option(help="Daily check-in time, HH:MM local")] = None,
    credential: Annotated[str | None, typer.Option(help="A staff member's certification, e.g. CPRS")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a person's details; check-ins follow a new time or zone from their next occurrence."""
    from bot.people.life import Edit, edit_person  # noqa: PLC0415

    edit = Edit(name, phone, telegram, timezone, locale, checkin_time, credential)

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            person, changed = await edit_person(
                s,
                a.content.messages,
                a.clock.now(),
                who,
                edit,
                quiet=a.settings.quiet_window,
                program=a.settings.sender_name,
            )
            return {"id": person.id, "name": person.name, "changed": changed}

    done = run_with_app(work, channels=False)
    emit(as_json, done, f"{done['name']} (id {done['id']}): changed {', '.join(done['changed'])}")


@people_app.command("discharge")
def people_discharge(
    who: WhoArg,
    reason: Annotated[str | None, typer.Option(help="Why, in a few words (kept encrypted)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discharge from the program: check-ins stop, consents end, history is kept (`readmit` undoes it)."""
    from bot.people.life import discharge  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            done = await discharge(s, a.content.messages, a.clock.now(), who, reason=reason)
            return {
                "id": done.person.id,
                "name": done.person.name,
                "status": done.person.status,
                "consents_ended": done.consents_ended,
                "sessions_closed": done.sessions_closed,
                "open_alerts": done.open_alerts,
            }

    done = run_with_app(work, channels=False)
    text = (
        f"discharged {done['name']} (id {done['id']}): check-ins stopped, "
        f"{done['consents_ended']} consent(s) ended"
    )
    if done["open_alerts"]:
        ids = ", ".join(f"#{i}" for i in done["open_alerts"])
        text += f"; alerts still open: {ids} (resolve them: the escalation goes on until someone does)"
    emit(as_json, done, text)


@people_app.command("readmit")
def people_readmit(who: WhoArg, as_json: JsonOpt = False) -> None:
    """Re-enrol a discharged person: check-ins resume (consents must be asked again)."""
    from bot.people.life import readmit  # noqa: PLC0415

    async def work(a: App) -> dict[str, Any]:
        async with a.db.transaction() as s:
            person = await readmit(s, a.clock.now(), who)
            return {"id": person.id, "name": person.name, "status": person.status}

    done = run_with_app(work, channels=False)
    emit(as_json, done, f"readmitted {done['name']} (id {done['id']}): check-ins resume")


@caseload_app.command("transfer")
def caseload_transfer(
    source: Annotated[str, typer.Option("--from", help="The peer whose caseload moves")],
    target: Annotated[str, typer.Option("--to", help="The peer who takes it over")],
    as_json: JsonOpt = False,
) -> None:
    """Move every PIR of one peer to another: teams changed, alerts the old peer held re-opened and paged
    to the new one, both peers told."""
    from bot.people.life import transfer_caseload  # noqa: PLC0415

    async def work(a: App) -> tuple[dict[str, Any], str]:
        async with a.db.transaction() as s:
            done = await transfer_caseload(s, a.content.messages, a.clock.now(), source, target)
            text = (
                f"{len(done.pirs)} PIR(s) moved from {done.source.name} to {done.target.name}"
                + (f", backup for {len(done.backups)} more" if done.backups else "")
                + (f"; {len(done.cleared_backup)} left without a backup" if done.cleared_backup else "")
                + (f"; alerts re-opened and paged: {done.reopened}" if done.reopened else "")
            )
            return done.as_json(), text

    data, text = run_with_app(work, channels=False)
    emit(as_json, data, text)
