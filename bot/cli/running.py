"""`peerline db`, `demo` and `serve`: the schema and keys, the console demo, the server."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.groups import (
    JsonOpt,
    app,
    cli_settings,
    db_app,
    emit,
    fail,
    fail_on_operator_error,
    out,
    run_with_app,
)
from config.settings import SettingsError

if TYPE_CHECKING:
    from bot.app import App


# -- database, demo and server --------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOpt = False) -> None:
    """Apply database migrations (serve and demo do this by themselves)."""
    from storage.db import migration_heads  # noqa: PLC0415

    async def work(a: App) -> None:
        await a.db.upgrade()

    run_with_app(work, upgrade=False, channels=False)
    emit(
        as_json,
        {"status": "up to date", "revisions": sorted(migration_heads() or [])},
        "database is up to date",
    )


@db_app.command("backup")
def db_backup(
    file: Annotated[Path, typer.Argument(help="a new file for the copy")],
    as_json: JsonOpt = False,
) -> None:
    """Copy the SQLite database to FILE while the bot runs (PostgreSQL: use pg_dump)."""
    from storage.backup import BackupError, backup  # noqa: PLC0415

    try:
        size = backup(cli_settings().database_url, file)
    except BackupError as exc:
        fail(str(exc))
        return
    emit(as_json, {"file": str(file), "bytes": size}, f"backed up to {file} ({size:,} bytes)")


@db_app.command("new-key")
def db_new_key(as_json: JsonOpt = False) -> None:
    """Print a new key for PEERLINE_ENCRYPTION_KEY (to rotate: the new key, a comma, then the old)."""
    from storage.crypto import new_key  # noqa: PLC0415

    key = new_key()
    if as_json:
        emit(True, {"key": key})
    else:
        typer.echo(key)


@db_app.command("encrypt")
def db_encrypt(as_json: JsonOpt = False) -> None:
    """Encrypt a plaintext database in place with PEERLINE_ENCRYPTION_KEY (stop `serve` first)."""
    _rekey(rotate=False, as_json=as_json)


@db_app.command("rotate-key")
def db_rotate_key(as_json: JsonOpt = False) -> None:
    """Re-encrypt everything under the first key of PEERLINE_ENCRYPTION_KEY (set it to NEW,OLD; stop `serve`
    first). Afterwards the old key can be dropped."""
    _rekey(rotate=True, as_json=as_json)


def _rekey(*, rotate: bool, as_json: bool) -> None:
    from storage.crypto import EncryptionError  # noqa: PLC0415
    from storage.keys import Rekeyed, reencrypt  # noqa: PLC0415

    async def work(a: App) -> Rekeyed:
        if a.db.keyring is None:
            raise EncryptionError("set PEERLINE_ENCRYPTION_KEY first; make a key with `peerline db new-key`")
        await a.db.upgrade(check_key=False)
        return await reencrypt(a.db.engine, a.db.keyring, rotate=rotate)

    done = run_with_app(work, upgrade=False, channels=False)
    verb = "re-encrypted" if rotate else "encrypted"
    after = "; PEERLINE_ENCRYPTION_KEY may now hold the first key alone" if rotate else ""
    emit(
        as_json,
        {"status": verb, "rows": done.rows, "values": done.values, "key": done.fingerprint},
        f"{verb} {done.values} values in {done.rows} rows under key {done.fingerprint}{after}",
    )


@app.command("demo")
def demo_cmd(
    script: Annotated[
        Path | None, typer.Option(help="Run without a terminal: one PIR message per line")
    ] = None,
    db: Annotated[Path, typer.Option(help="SQLite file for the demo (recreated each run)")] = Path(
        "peerline-demo.db"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="The conversation as JSON lines, one per message")
    ] = False,
) -> None:
    """The whole bot over the console channel: answer a check-in as the PIR and see what the peer gets."""
    from bot.demo import run_demo  # noqa: PLC0415

    if script is not None and not script.is_file():
        fail(f"script {script} not found: give a text file with one PIR message per line")
    settings = cli_settings()
    try:
        asyncio.run(run_demo(settings, db, script, out, as_json=as_json))
    except ValueError as exc:
        fail_on_operator_error(exc)
        raise


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on")] = 8080,
    as_json: Annotated[bool, typer.Option("--json", help="Log as JSON lines, one object per line")] = False,
) -> None:
    """Run the HTTP app, the scheduler and the outbox sender until interrupted."""
    from bot.server import serve  # noqa: PLC0415

    settings = cli_settings()
    with contextlib.suppress(KeyboardInterrupt):
        try:
            asyncio.run(serve(settings, host, port, json_logs=as_json or settings.log_format == "json"))
        except SettingsError as exc:
            fail(str(exc))
        except ValueError as exc:  # a database URL that cannot work, bad program content
            fail_on_operator_error(exc)
            raise
