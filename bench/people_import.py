"""Bulk enrolment: `people import` of 1,000 and 10,000 rows, beside the per-row `people add` path.

Each file: one peer and one supervisor, then PIRs (each with a phone, a check-in time, and the peer and
supervisor as their team) and every tenth row a family member with a Telegram chat id. The import is what
the command does after reading the file: the prefetch, the pure checks and the one writing transaction.
Baseline, in the same run: 200 people enrolled one by one as `people add` enrols them (one transaction
each: `add_person` and `confirm_opt_in`), without the process start-up a real `people add` also pays.

    uv run python -m bench.people_import [--database-url URL]   (default: a fresh SQLite file per run)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bot.app import App
from bot.people.enrolment import add_person, confirm_opt_in
from bot.people.importing import Defaults, check_rows, enrol_rows, load_known, read_csv
from config.settings import Settings
from storage.models import Role


def _csv(n: int, first_phone: int) -> str:
    lines = [
        "role,name,phone,telegram,checkin_time,peer,supervisor",
        "peer,Sam Peer,,,,,",
        "supervisor,Dana Sup,,,,,",
    ]
    for i in range(n - 2):
        if i % 10 == 9:
            lines.append(f"family,Family {i},,{700000 + first_phone + i},,,")
        else:
            lines.append(f"pir,Person {i},+1415{first_phone + i:07d},,10:{i % 60:02d},Sam Peer,Dana Sup")
    return "\n".join(lines) + "\n"


async def _app(url: str | None, folder: Path, name: str) -> App:
    settings = Settings(database_url=url or f"sqlite+aiosqlite:///{folder / name}.db")
    app = App.build(settings, lazy=True, channels={})
    await app.db.upgrade()
    return app


async def _import(url: str | None, folder: Path, n: int) -> float:
    app = await _app(url, folder, f"import{n}")
    try:
        text = _csv(n, 5550000)
        defaults = Defaults(
            app.settings.default_timezone, app.settings.default_checkin_time, app.settings.quiet_window
        )
        started = time.perf_counter()
        async with app.db.transaction() as s:
            rows, reports = check_rows(read_csv(text), await load_known(s), defaults)
            assert all(r.ok for r in reports), [r for r in reports if not r.ok][:3]
            await enrol_rows(s, app.clock.now(), rows, messages=app.content.messages, program="Peerline")
        return n / (time.perf_counter() - started)
    finally:
        await app.close()


async def _one_by_one(url: str | None, folder: Path, n: int) -> float:
    app = await _app(url, folder, "add")
    try:
        started = time.perf_counter()
        for i in range(n):
            async with app.db.transaction() as s:
                person = await add_person(
                    s,
                    app.clock.now(),
                    role=Role.PIR,
                    name=f"Person {i}",
                    phone=f"+1415{5550000 + i:07d}",
                    checkin_time="10:00",
                    quiet=app.settings.quiet_window,
                )
                await confirm_opt_in(s, app.content.messages, person, app.clock.now(), program="Peerline")
        return n / (time.perf_counter() - started)
    finally:
        await app.close()


async def main(url: str | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="peerline-bench-"))
    try:
        baseline = await _one_by_one(url, folder, 200)
        print(f"people add, one by one, 200 rows: {baseline:8.0f} rows/s")
        for n in (1_000, 10_000):
            rate = await _import(url, folder, n)
            times = f"{n / rate:.1f} s, {rate / baseline:.0f}x the one-by-one rate"
            print(f"people import, {n:>6,} rows:       {rate:8.0f} rows/s ({times})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="an empty database (default: temporary SQLite)")
    asyncio.run(main(parser.parse_args().database_url))
