"""Logging for `peerline serve`: our own events at INFO, without other libraries' noise or people's data.

What we log names messages by id, never by their text, and people by id, never by number: a phone
number that reaches a line anyway (a provider's error message quotes the number it refused) is masked
by the formatter. Two libraries would say more at INFO:
APScheduler's executor writes two lines per job run (`Running job ...`, `... executed successfully`),
that is every scheduler tick, and twilio-python writes every API request with its headers.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET: dict[str, int] = {
    "apscheduler.executors": logging.WARNING,  # a failed or missed tick still shows
    "twilio": logging.WARNING,  # twilio.http_client and twilio.async_http_client
}


class ProtocolErrorsInOneLine(logging.Filter):
    """aiohttp answers a request it cannot parse (a header over 8 KB, bad chunking, a bad method) with
    a 400 of its own and logs it as an ERROR with a traceback; so it does for the rest of a body it reads
    after our answer (a `Content-Encoding: gzip` body that is not gzip). It is the client's mistake, not
    ours: one WARNING line with the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RequestPayloadError) and isinstance(exc.__cause__, HttpProcessingError):
            exc = exc.__cause__
        if isinstance(exc, HttpProcessingError):
            record.msg, record.args = "refused a malformed HTTP request: %s %s", (exc.code, exc.message)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


PHONE = re.compile(r"\+\d[\d ().-]{6,18}\d")


def mask_numbers(text: str) -> str:
    """`text` with every phone number in E.164 or written form (+1 415 555 0123) masked."""
    return PHONE.sub("+[number]", text)


class Masking(logging.Formatter):
    """A formatter whose every line, traceback included, has phone numbers masked."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return mask_numbers(self._inner.format(record))


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message (and a traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(
    level: int = logging.INFO, stream: TextIO | None = None, *, json_lines: bool = False
) -> None:
    """Log to `stream` (standard error) at `level`, with the loggers in QUIET held at theirs; with
    `json_lines` one JSON object per line (`peerline serve --json`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(Masking(JsonLines() if json_lines else logging.Formatter(FORMAT)))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, level))
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, ProtocolErrorsInOneLine) for f in server.filters):
        server.addFilter(ProtocolErrorsInOneLine())
