"""`peerline serve` as a real child process, and webhook senders that retry the way providers do.

`ServeProcess` runs `python -m bot serve` on a fixed port, so it can be killed (SIGKILL: no clean-up at
all) and started again on the same database and address, as a supervisor would. `RetryingSender` posts a
webhook until it gets a 200, like Twilio and Telegram: a refused or dropped connection, a timeout or any
other status is tried again after a short backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


def free_port() -> int:
    """A free port below the kernel's ephemeral range: while the server is down between runs, no
    connection or `bind(0)` elsewhere on the machine is handed it, so the next run can have it again."""
    low = 32768
    with contextlib.suppress(OSError, ValueError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    chooser = random.SystemRandom()
    for _ in range(100):
        port = chooser.randrange(min(10_000, low // 2), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


@dataclass
class ServeProcess:
    """One `peerline serve` at a time on `port`, each run logging to a file of its own in `cwd`."""

    cwd: Path
    env: Mapping[str, str]
    port: int
    runs: int = 0
    process: asyncio.subprocess.Process | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        self.runs += 1
        log = self.cwd / f"serve-{self.runs}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "serve",
                "--port",
                str(self.port),
                cwd=self.cwd,
                env=dict(self.env),
                stdout=out,
                stderr=out,
            )

    async def healthy(self, within: float = 60.0) -> None:
        """Wait until `/healthz` answers 200 (the database is open and the routes are up)."""
        assert self.process is not None
        deadline = asyncio.get_running_loop().time() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.tail()}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"serve not healthy within {within:.0f}s:\n{self.tail()}")
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: nothing in the process gets to finish, flush or close anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM and wait for a clean exit (killed if it takes longer); the exit code, or None if it
        was not running."""
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=within)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise AssertionError(f"serve did not stop within {within:.0f}s:\n{self.tail()}") from None
        return process.returncode

    def tail(self, lines: int = 40) -> str:
        if not self.logs:
            return ""
        text = self.logs[-1].read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class RetryingSender:
    """Posts webhooks until each is answered 200, counting the attempts that were not."""

    session: aiohttp.ClientSession
    give_up_after: float = 120.0
    failed_attempts: int = 0
    statuses: dict[int, int] = field(default_factory=dict)  # non-200 answers seen, by status

    async def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.give_up_after
        delay = 0.05
        last = "nothing"
        while True:
            try:
                async with self.session.post(url, data=data, json=json, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        return
                    self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                    last = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                last = repr(exc)
            self.failed_attempts += 1
            if loop.time() > deadline:
                raise AssertionError(f"{url}: no 200 within {self.give_up_after:.0f}s (last: {last})")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.4)
