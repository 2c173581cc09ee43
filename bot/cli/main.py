"""`peerline` entry point: loading each command module registers its commands on the one Typer app."""

from __future__ import annotations

from collections.abc import Sequence

# Commands register in import order, which is the order `peerline --help` lists them in.
from bot.cli import roster

# isort: split
from bot.cli import scheduling

# isort: split
from bot.cli import records

# isort: split
from bot.cli import triage_command

# isort: split
from bot.cli import running

# isort: split
from bot.cli import reports

# isort: split
from bot.cli import family

# isort: split
from bot.cli import life

# isort: split
from bot.cli import web_command

# isort: split
from bot.cli import records_io

# isort: split
from bot.cli.groups import app

COMMAND_MODULES = (
    roster,
    scheduling,
    records,
    triage_command,
    running,
    reports,
    family,
    life,
    web_command,
    records_io,
)
__all__ = ["COMMAND_MODULES", "app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=list(argv) if argv is not None else None, prog_name="peerline")
