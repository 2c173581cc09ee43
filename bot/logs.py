"""Logging for `peerline serve`: our own events at INFO, without other libraries' noise or people's data.

What we log names messages by id, never by their text. Two libraries would say more at INFO:
APScheduler's executor writes two lines per job run (`Running job ...`, `... executed successfully`),
that is every scheduler tick, and twilio-python writes every API request with its headers.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET: dict[str, int] = {
    "apscheduler.executors": logging.WARNING,  # a failed or missed tick still shows
    "twilio": logging.WARNING,  # twilio.http_client and twilio.async_http_client
}


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Log to `stream` (standard error) at `level`, with the loggers in QUIET held at theirs."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, level))
