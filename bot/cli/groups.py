"""The `peerline` Typer app, its command groups and what every command shares (errors, output, the app).

The commands live in one module per group (`bot.cli.roster`, `scheduling`, `records`, `triage_command`,
`running`); `bot.cli.main` loads them all and is the entry point."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import UserError
from config.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from bot.app import App

# Each command imports what it needs, so `peerline people list` loads no flows, lexicons, aiogram or
# pipeline: a command that only reads the database starts in a fraction of a second.

T = TypeVar("T")

app = typer.Typer(
    help="Peerline: daily check-ins and crisis escalation for peer recovery programs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
people_app = typer.Typer(help="Enrol and list people.", no_args_is_help=True)
family_app = typer.Typer(help="Family links and consent.", no_args_is_help=True)
checkin_app = typer.Typer(help="Check-ins.", no_args_is_help=True)
scheduler_app = typer.Typer(help="The scheduler.", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts.", no_args_is_help=True)
messages_app = typer.Typer(help="Message texts.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
schedule_app = typer.Typer(help="Check-in schedules.", no_args_is_help=True)
oncall_app = typer.Typer(
    help="The program's on-call: paged when nobody on a care team can be, and about strangers in crisis.",
    no_args_is_help=True,
)
app.add_typer(people_app, name="people")
app.add_typer(family_app, name="family")
app.add_typer(checkin_app, name="checkin")
app.add_typer(scheduler_app, name="scheduler")
app.add_typer(alerts_app, name="alerts")
app.add_typer(messages_app, name="messages")
app.add_typer(db_app, name="db")
app.add_typer(schedule_app, name="schedule")
app.add_typer(oncall_app, name="oncall")
report_app = typer.Typer(help="Outcome and billing reports.", no_args_is_help=True)
app.add_typer(report_app, name="report")

out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error line must never be cut in two

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def cli_settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers sure of the return


def run_with_app(work: Callable[[App], Awaitable[T]], *, upgrade: bool = True, channels: bool = True) -> T:
    """Build the app, apply migrations, run `work`, and turn operator mistakes into clear errors.

    Without `channels` no provider client is built (aiogram alone takes a second to import): for
    commands that queue nothing with buttons and ask no provider anything.
    """
    from bot.app import App  # noqa: PLC0415

    settings = cli_settings()

    async def main() -> T:
        application = App.build(settings, lazy=True, channels=None if channels else {})
        try:
            if upgrade:
                await application.db.upgrade()
            return await work(application)
        finally:
            await application.close()

    try:
        return asyncio.run(main())
    except ValueError as exc:
        fail_on_operator_error(exc)
        raise


def fail_on_operator_error(exc: ValueError) -> None:
    """Exit with one line for a mistake of the operator's or in the program's content; else return."""
    from bot.content import ContentError  # noqa: PLC0415  (only once something went wrong)
    from flows.loader import FlowError  # noqa: PLC0415
    from flows.triage import LexiconError  # noqa: PLC0415
    from storage.crypto import EncryptionError  # noqa: PLC0415
    from storage.db import DatabaseUrlError  # noqa: PLC0415

    operator = UserError | ContentError | FlowError | LexiconError | DatabaseUrlError | EncryptionError
    if isinstance(exc, operator):
        fail(str(exc))


def emit(as_json: bool, data: Any, table: Table | str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, default=str, ensure_ascii=False) + "\n")
    elif table is not None:
        out.print(table)


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        fail(f"bad --now {value!r}: use ISO 8601, e.g. 2026-03-08T14:00:00Z")
        raise
    if not 2000 <= when.year <= 2199:  # every schedule and timer adds days to it
        fail(f"bad --now {value!r}: give a time between the years 2000 and 2199")
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
