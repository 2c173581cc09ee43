"""`peerline web`: the staff console (served by `peerline serve`); `web link` prints a sign-in link."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.groups import JsonOpt, app, cli_settings, emit, out, run_with_app

if TYPE_CHECKING:
    from bot.app import App

web_app = typer.Typer(help="The staff console on `peerline serve`'s port.", no_args_is_help=True)
app.add_typer(web_app, name="web")


@web_app.command("link")
def web_link(
    who: Annotated[str, typer.Argument(help="A peer, supervisor or admin: id or name")],
    as_json: JsonOpt = False,
) -> None:
    """Print a single-use sign-in link for WHO (valid one hour), e.g. for an admin's first sign-in."""
    from bot.people.audience import STAFF  # noqa: PLC0415
    from bot.people.names import resolve  # noqa: PLC0415
    from bot.web.signin import LINK_TTL, create_link  # noqa: PLC0415

    async def work(a: App) -> tuple[str, str]:
        async with a.db.transaction() as s:
            person = await resolve(s, who, STAFF)
            return person.name, await create_link(s, person, a.clock.now())

    name, token = run_with_app(work, channels=False)
    base = (cli_settings().public_url or "").rstrip("/")
    link = f"{base}/login/link/{token}"
    hours = int(LINK_TTL.total_seconds() // 3600)
    if as_json:
        emit(True, {"name": name, "link": link, "expires_in_hours": hours})
    else:
        out.print(link, highlight=False, soft_wrap=True, markup=False)
        out.print(f"signs in {name} once, within {hours} hour(s)", highlight=False, markup=False)
