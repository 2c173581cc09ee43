"""Fuzzing the three webhooks over real HTTP (issue 13): whatever a client sends to `POST /sms/inbound`,
`POST /sms/status` or the Telegram webhook, the answer is below 500, nothing is logged as an ERROR or
with a traceback, and afterwards the server is still healthy and still answers a person's text.

The app is `bot.server.make_web_app` on a real socket, logging set up as `peerline serve` sets it up, SMS
through a local fake Twilio and Telegram through a local fake Bot API. A good share of the requests is
signed correctly (Twilio's `X-Twilio-Signature` over the fields posted, Telegram's secret token), so the
hostile bodies reach the code after the signature check. The Twilio routes run behind a proxy (public
URL set) and without one (the signed URL comes from the Host header); broken HTTP framing goes over a raw
socket. Hypothesis is derandomized: the same requests run on every machine, about 30 s in all. SQLite
only: this is about reading requests, not about the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import string
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlencode

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, MultiDict
from pydantic import SecretStr
from sqlmodel import col, select
from twilio.request_validator import RequestValidator
from yarl import URL

from bot.app import App
from bot.channels.sms.adapter import SmsChannel
from bot.channels.telegram.runtime import WEBHOOK_PATH
from bot.checkins.sessions import start_checkin
from bot.clock import ManualClock
from bot.logs import QUIET, configure_logging
from bot.people.enrolment import add_person, assign, resolve
from bot.server import make_web_app
from config.settings import Settings
from storage.models import ChannelName, Direction, Message, Role
from tests.bot.channels.fake_telegram import SPEC_PATH, FakeTelegram
from tests.fakes.sms_world import inbound_fields
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio

T = TypeVar("T")

PUBLIC_URL = "https://peerline.example.org/hooks"
FROM_NUMBER = "+15017122661"
TOKEN = "123456:TEST-token"
SECRET = "webhook-secret_1"
ALEX, SAM, RILEY, STRANGER = "+12025550143", "+12025550101", "+12025550177", "+13105550100"
JAMIE_CHAT = 111  # a PIR on Telegram
FORM = "application/x-www-form-urlencoded"
EXAMPLES = 250  # per route: a few seconds each


def fuzz_settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same requests in CI as on a laptop
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture
def public_url() -> str | None:
    """Where the app believes it is served (behind a proxy); None: at whatever the Host header says."""
    return PUBLIC_URL


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only (the shared fixture also runs PostgreSQL): the fuzz reads requests, not the database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'peerline.db'}"


# -- the server ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query, as sent
    headers: list[tuple[str, str]]
    body: bytes

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        headers = [(k, v if len(v) <= 100 else v[:100] + "...") for k, v in self.headers]
        return f"Request({self.method!r}, {self.target!r}, headers={headers!r}, body={body!r})"


@dataclass
class Served:
    """The web app on 127.0.0.1, driven from a synchronous test through its own event loop."""

    loop: asyncio.Runner
    app: App
    twilio: FakeTwilio
    telegram: FakeTelegram
    session: aiohttp.ClientSession
    port: int
    caplog: pytest.LogCaptureFixture
    message_ids: list[int]  # our outbound SMS (for `?m=` on receipts)
    sids: list[str]  # and their Twilio sids
    public_url: str | None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(coro)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def signed_base(self) -> str:
        """What Twilio signs in front of the path: the URL it calls."""
        return self.public_url or self.base

    def send(self, request: Request) -> int | None:
        """One request; asserts it was answered below 500 and logged no error. None: the server hung up."""
        seen = len(self.caplog.records)
        status = self.run(self._send(request))
        assert status is None or status < 500, f"{status} for {request!r}"
        self.assert_no_errors(since=seen)
        return status

    async def _send(self, request: Request) -> int | None:
        headers = CIMultiDict(request.headers)
        skip = () if "Content-Type" in headers else ("Content-Type",)
        try:
            async with self.session.request(
                request.method,
                URL(self.base + request.target, encoded=True),
                headers=headers,
                data=request.body,
                skip_auto_headers=skip,
                allow_redirects=False,
            ) as response:
                await response.read()
                return response.status
        except ValueError:  # the client refuses to send it (a header it cannot write): nothing was sent
            reject()
        except aiohttp.ClientResponseError as exc:  # answered, in a way the client could not parse
            return exc.status
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            return None  # the server hung up on it (e.g. a header over 8 KB): an answer, not a crash

    def assert_no_errors(self, since: int = 0) -> None:
        bad = [
            r
            for r in self.caplog.records[since:]
            if r.levelno >= logging.ERROR or r.exc_info or "Traceback" in r.getMessage()
        ]
        assert not bad, "\n".join(
            f"{r.levelname} {r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in bad
        )

    def assert_healthy(self) -> None:
        """/healthz answers and a person's signed text is still taken in and answered."""
        self.assert_no_errors()
        assert self.run(self._healthz()) == 200
        params = inbound_fields(RILEY, "can we talk tomorrow?", "SM" + "fe" * 16)
        body = urlencode(params).encode()
        signature = RequestValidator(AUTH_TOKEN).compute_signature(f"{self.signed_base}/sms/inbound", params)
        headers = [("Content-Type", FORM), ("X-Twilio-Signature", signature)]
        assert self.send(Request("POST", "/sms/inbound", headers, body)) == 200
        self.run(self.app.sender.drain(ChannelName.SMS))
        replies = self.twilio.bodies_to(RILEY)
        assert any("passed that to your peer Sam" in text for text in replies), replies
        self.assert_no_errors()
        # Whatever the fuzz made the bot call Telegram with, the Bot API allows. (Not so for Twilio: the
        # bot answers a HELP from any sender, and the fuzz signs senders Twilio never would, like "HELP".)
        assert self.telegram.problems == []

    async def _healthz(self) -> int:
        async with self.session.get(f"{self.base}/healthz") as response:
            return response.status


@contextlib.contextmanager
def peerline_logging() -> Iterator[None]:
    """Logging as `peerline serve` sets it up (with aiohttp's protocol errors in one line), put back after."""
    root, server = logging.getLogger(), logging.getLogger("aiohttp.server")
    saved = (root.level, list(root.handlers), list(server.filters))
    levels = {name: logging.getLogger(name).level for name in QUIET}
    configure_logging(stream=io.StringIO())
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in saved[1]:
                root.removeHandler(handler)
        root.setLevel(saved[0])
        server.filters[:] = saved[2]
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture
def served(
    db_url: str, public_url: str | None, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> Iterator[Served]:
    caplog.set_level(logging.INFO)
    with peerline_logging(), asyncio.Runner() as loop:
        twilio = FakeTwilio()
        loop.run(twilio.start())
        telegram = loop.run(FakeTelegram(TOKEN).start())
        settings = Settings(
            database_url=db_url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_from_number=FROM_NUMBER,
            twilio_api_url=twilio.url,
            twilio_messages_per_second=1000.0,
            telegram_token=TOKEN,
            telegram_api_url=telegram.url,
            telegram_webhook_secret=SecretStr(SECRET),
            public_url=public_url,
        )
        app = App.build(settings, clock=clock)  # Telegram from the settings, as `peerline serve` builds it
        sms = SmsChannel.from_settings(settings)
        assert sms is not None
        app.add_channel(sms)
        ids, sids = loop.run(_seed(app))
        runner = web.AppRunner(make_web_app(app))
        loop.run(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        session = loop.run(_session())
        try:
            yield Served(loop, app, twilio, telegram, session, port, caplog, ids, sids, public_url)
        finally:
            loop.run(session.close())
            loop.run(runner.cleanup())
            loop.run(app.close())
            loop.run(telegram.stop())
            loop.run(twilio.close())


async def _session() -> aiohttp.ClientSession:
    # A fresh connection per request: a request the server hung up on cannot spoil the next one.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))


async def _seed(app: App) -> tuple[list[int], list[str]]:
    """Peer Sam (SMS) with PIRs Alex and Riley (SMS) and Jamie (Telegram); Alex's check-in went out."""
    await app.db.create_all()
    now = app.clock.now()
    async with app.db.transaction() as s:
        await add_person(s, now, role=Role.PEER, name="Sam", phone=SAM)
        await add_person(s, now, role=Role.PIR, name="Alex", phone=ALEX)
        await add_person(s, now, role=Role.PIR, name="Riley", phone=RILEY)  # only ever writes after the fuzz
        await add_person(s, now, role=Role.PIR, name="Jamie", telegram=str(JAMIE_CHAT))
        for pir in ("Alex", "Riley", "Jamie"):
            await assign(s, now, pir=pir, peer="Sam")
    async with app.db.transaction() as s:
        alex = await resolve(s, "Alex")
        await start_checkin(s, app.content, alex, "daily_checkin", now, app.buttons)
    await app.sender.drain(ChannelName.SMS)
    async with app.db.transaction() as s:
        sent = (
            await s.scalars(
                select(Message).where(
                    col(Message.direction) == Direction.OUTBOUND, col(Message.channel) == ChannelName.SMS
                )
            )
        ).all()
    assert sent and all(m.id is not None and m.provider_id for m in sent)
    return [m.id for m in sent if m.id is not None], [
        m.provider_id.removeprefix("sms:") for m in sent if m.provider_id
    ]


# -- what a hostile client sends ----------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "\u00b2",  # a digit to str.isdigit(), not to int()
    "\u0661\u0662",  # Arabic-Indic 12
    "\uff11",  # fullwidth 1
    "0",
    "-1",
    "1e3",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "1" * 5000,  # past int()'s default digit limit
    "NaN",
    "null",
    "[]",
    "{}",
    "\x00",
    "a\x00b",
    "%00",
    "\u202e",
    "\ufeff",
    "\U0001f600",
    "ACK \u00b2",
    "DONE 9223372036854775808 called",
    "ACK 1",
    "#12 hi",
    "#\u00b2 hi",
    "@Alex hi",
    "@ hi",
    "/start \u00b2",
    "STOP",
    "START",
    "HELP",
    "I want to kill myself",
    "x" * 1601,
    "\u00e9" * 5000,
    "word " * 4000,
]
hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.integers().map(str),
    st.text(st.characters(min_codepoint=0x80), max_size=20),
)
header_text = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=60)
HEADER_NAMES = [
    "Host",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Forwarded",
    "User-Agent",
    "Accept-Charset",
    "Content-Encoding",
    "Expect",
    "Cookie",
    "I-Twilio-Idempotency-Token",
    "X-Twilio-Webhooks-Signature-Settings",
    "X-Twilio-Signature",
    "X-Telegram-Bot-Api-Secret-Token",
]
HOSTS = ["", "x:99999", "a:b:c", "127.0.0.1:-1", "[::1", "\u00e9", "a b", "xn--", "a@b", "%zz"]  # no URL
header_values = st.one_of(
    header_text,
    st.sampled_from(
        [
            "\u00e9",
            "\u00ff" * 10,
            "\u4e2d\u6587",
            "a" * 9000,  # over aiohttp's 8190-byte field limit
            "gzip",
            "deflate",
            "br",
            "zstd",
            "100-continue",
            "algorithm=HMAC_SHA256",
            "algorithm=MD5",
            "key=x,algorithm=",
        ]
    ),
)
random_headers = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(HEADER_NAMES),
            st.text(string.ascii_letters + string.digits + "-_!#$%&'*+.^`|~", min_size=1, max_size=20),
        ),
        header_values,
    ),
    max_size=3,
)
methods = st.one_of(
    st.just("POST"),
    st.just("POST"),
    st.just("POST"),
    st.sampled_from(["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "post", "FUZZ", "M-SEARCH"]),
)


def content_types(right: str) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.just(right),
        st.just(right),
        st.sampled_from(
            [
                None,
                "",
                ";",
                right + "; charset=utf-8",
                right + "; charset=UTF8",
                right + '; charset="utf-8"',
                right + "; charset=latin-1",
                right + "; charset=bogus",
                right + "; charset=",
                right + ";;;",
                right.upper(),
                FORM,
                "application/json",
                "multipart/form-data",
                "multipart/form-data; boundary=",
                "multipart/form-data; boundary=x",
                "text/plain",
                "text/xml; charset=utf-16",
                "*/*",
                "\u00e9/\u00e9",
            ]
        ),
        header_text,
    )


QUERIES = [
    "",
    "?m=%C2%B2",
    "?m=9223372036854775808",
    "?m=99999999999999999999",
    "?m=-1",
    "?m=1e3",
    "?m=0",
    "?m=",
    "?m",
    "?m=1&m=2",
    "?m=%ff",
    "?m=%zz",
    "?%",
    "?m=%00",
    "?m=%EF%BC%91",
    "?m=\u0661\u0662",
    "?bodySHA256=abc",
    "?=&&=",
    "?m=" + "9" * 5000,
]


def queries(ids: list[int]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(QUERIES),
        st.sampled_from(ids).map(lambda i: f"?m={i}"),
        hostile_text.map(lambda t: "?m=" + quote(t[:200], safe="")),
    )


sids = st.one_of(
    st.text(string.hexdigits.lower(), min_size=32, max_size=32).map(lambda h: "SM" + h), hostile_text
)


@st.composite
def twilio_form(draw: st.DrawFn, fields: dict[str, str]) -> list[tuple[str, str]]:
    """Twilio's fields, each kept, dropped, emptied, repeated or replaced, in any order, with extra ones."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        fate = draw(st.sampled_from(["keep"] * 5 + ["drop", "empty", "twice", "hostile", "hostile"]))
        if fate == "keep":
            pairs.append((name, value))
        elif fate == "empty":
            pairs.append((name, ""))
        elif fate == "twice":
            pairs += [(name, value), (name, draw(hostile_text))]
        elif fate == "hostile":
            pairs.append((name, draw(hostile_text)))
    pairs += draw(
        st.lists(st.tuples(st.one_of(st.sampled_from(list(fields)), hostile_text), hostile_text), max_size=3)
    )
    return draw(st.permutations(pairs))


@st.composite
def sms_requests(draw: st.DrawFn, path: str, served: Served) -> Request:
    if path == "/sms/inbound":
        number = draw(
            st.one_of(st.sampled_from([ALEX, SAM, STRANGER, "(202) 555-0143", "short", ""]), hostile_text)
        )
        fields = inbound_fields(number, draw(hostile_text), draw(sids))
    else:
        status = draw(
            st.one_of(
                st.sampled_from(["queued", "sent", "delivered", "undelivered", "failed", "read", "canceled"]),
                st.sampled_from(["DELIVERED", "Failed", "received", "\u0130", "\u00df"]),
                hostile_text,
            )
        )
        fields = {
            "MessageSid": draw(st.one_of(st.sampled_from(served.sids), sids)),
            "MessageStatus": status,
            "SmsStatus": status,
            "AccountSid": ACCOUNT_SID,
            "ErrorCode": draw(
                st.one_of(st.sampled_from(["30003", "30005", "30006", "21610", ""]), hostile_text)
            ),
            "To": draw(st.sampled_from([ALEX, SAM, STRANGER])),
            "From": FROM_NUMBER,
            "ApiVersion": "2010-04-01",
        }
    pairs = draw(twilio_form(fields))
    target = path + draw(queries(served.message_ids))
    url = served.signed_base + target
    validator = RequestValidator(AUTH_TOKEN)
    if draw(st.booleans()):  # as Twilio would post it, signed: only the fields are hostile
        body = urlencode(pairs, quote_via=draw(st.sampled_from([quote_plus, quote]))).encode()
        signature = validator.compute_signature(url, MultiDict(pairs))
        return Request("POST", target, [("Content-Type", FORM), ("X-Twilio-Signature", signature)], body)
    encoding = draw(st.sampled_from(["plus", "plus", "percent", "raw", "latin-1", "binary", "multipart"]))
    if encoding == "plus":
        body = urlencode(pairs).encode()
    elif encoding == "percent":
        body = urlencode(pairs, quote_via=quote).encode()
    elif encoding == "raw":  # not escaped at all
        body = "&".join(f"{k}={v}" for k, v in pairs).encode()
    elif encoding == "latin-1":
        body = urlencode(pairs, encoding="latin-1", errors="replace").encode()
    elif encoding == "binary":
        body = draw(
            st.one_of(
                st.binary(max_size=300), st.sampled_from([b"Body=\xff\xfe", b"%", b"\x00" * 10, b"=" * 50])
            )
        )
    else:
        body = b'--x\r\nContent-Disposition: form-data; name="Body"\r\n\r\nhi\r\n--x--\r\n'
    headers: list[tuple[str, str]] = []
    content_type = draw(content_types(FORM))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    try:  # what Twilio would have signed: the fields it posted
        signed = MultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"))
    except ValueError:
        signed = MultiDict(pairs)
    signature = draw(st.sampled_from(["right"] * 4 + ["sha256", "none", "empty", "wrong", "other-url"]))
    if signature == "right":
        headers.append(("X-Twilio-Signature", validator.compute_signature(url, signed)))
    elif signature == "sha256":
        value = validator.compute_signature(url, signed, "HMAC_SHA256")
        headers += [
            ("X-Twilio-Signature", value),
            ("X-Twilio-Webhooks-Signature-Settings", "algorithm=HMAC_SHA256"),
        ]
    elif signature == "empty":
        headers.append(("X-Twilio-Signature", ""))
    elif signature == "wrong":
        headers.append(("X-Twilio-Signature", draw(header_values)))
    elif signature == "other-url":
        headers.append(
            ("X-Twilio-Signature", validator.compute_signature("http://127.0.0.1" + target, signed)),
        )
    host = draw(st.one_of(st.none(), st.none(), st.sampled_from(HOSTS), header_text))
    if host is not None:
        headers.append(("Host", host))
    headers += draw(random_headers)
    return Request(draw(methods), target, headers, body)


# -- Telegram updates ---------------------------------------------------------------------------------

_SPEC = json.loads(SPEC_PATH.read_text(encoding="utf-8"))["types"]
SPEC_NAMES = sorted(
    {f["name"] for t in ("Update", "Message", "User", "Chat", "CallbackQuery") for f in _SPEC[t]["fields"]}
)


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE_JSON: list[Any] = [
    None,
    [],
    {},
    True,
    0,
    -1,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1.5,
    1e308,
    -0.0,
    "",
    "\u00b2",
    "\u0661\u0662",
    "9223372036854775808",
    "\x00",
    "x" * 5000,
    "\ud800",  # a lone surrogate: valid JSON (as an escape), not valid UTF-8
    "a\udfffb",
    _deep(60),
    {"update_id": 1},
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(HOSTILE_JSON),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(SPEC_NAMES), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def telegram_updates(draw: st.DrawFn) -> dict[str, Any]:
    """An update Telegram could send: a message, an edit, a channel post or a button press."""
    chat_id = draw(
        st.one_of(st.sampled_from([JAMIE_CHAT, 222, -1001234567890]), st.integers(-(2**52), 2**52))
    )
    user = {"id": abs(chat_id) or 1, "is_bot": False, "first_name": draw(st.text(min_size=1, max_size=10))}
    text = draw(
        st.one_of(
            hostile_text, st.sampled_from(["/start", "/stop", "/help", "/ack 1", "/start@PeerlineTestBot x"])
        )
    )
    message: dict[str, Any] = {
        "message_id": draw(st.integers(1, 2**31)),
        "date": 1772460000,
        "chat": {"id": chat_id, "type": draw(st.sampled_from(["private", "group", "supergroup", "channel"]))},
        "from": user,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}]
    kind = draw(st.sampled_from(["message", "message", "edited_message", "channel_post", "callback_query"]))
    update: dict[str, Any] = {"update_id": draw(st.integers(1, 2**31))}
    if kind == "callback_query":
        data = draw(
            st.one_of(
                st.sampled_from(
                    [
                        "alert:ack:1",
                        "alert:done:1",
                        "alert:ack:\u00b2",
                        "alert:ack:99999999999999999999",
                        "a:mood:4",
                        "a::",
                        "alert:",
                        ":",
                    ]
                ),
                st.text(max_size=64),
            )
        )
        message["reply_markup"] = {
            "inline_keyboard": [[{"text": draw(st.text(max_size=20)), "callback_data": data}]]
        }
        update["callback_query"] = {
            "id": "q1",
            "from": user,
            "chat_instance": "ci1",
            "data": data,
            "message": message,
        }
    else:
        update[kind] = message
    return update


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*at, index))
    return found


@st.composite
def almost_updates(draw: st.DrawFn) -> Any:
    """A good update with one field mutated: removed, retyped, replaced, or grown an unknown field."""
    update = draw(telegram_updates())
    path = draw(st.sampled_from(_paths(update)[1:]))
    parent = update
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    mutation = draw(st.sampled_from(["delete", "replace", "replace", "stringify", "wrap", "extra"]))
    if mutation == "delete" and isinstance(parent, dict):
        del parent[last]
    elif mutation == "stringify":
        parent[last] = json.dumps(parent[last])
    elif mutation == "wrap":
        parent[last] = [parent[last]]
    elif mutation == "extra" and isinstance(parent[last], dict):
        parent[last][draw(st.one_of(st.sampled_from(SPEC_NAMES), st.text(max_size=8)))] = draw(json_values)
    else:
        parent[last] = draw(st.one_of(st.sampled_from(HOSTILE_JSON), json_values))
    return update


RAW_UPDATES = [
    b"",
    b"not json",
    b"null",
    b"[]",
    b'"update"',
    b"7",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"update_id": 1e999}',
    b'{"update_id": NaN}',
    b'{"update_id": Infinity, "message": {}}',
    b'{"update_id": ' + b"1" * 5000 + b"}",
    b'\xef\xbb\xbf{"update_id": 1}',
    b'{"update_id": 1, "message": "\xff"}',
    '{"update_id": 1}'.encode("utf-16"),
    b'{"update_id": 1, "update_id": "x"}',
    b'{"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": 111, "type": "private"}, '
    b'"text": "\\ud800"}}',
    b"\xff\xfe\x00",
]


@st.composite
def telegram_bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "almost", "almost", "good", "raw"]))
    if kind == "raw":
        return draw(st.one_of(st.sampled_from(RAW_UPDATES), st.binary(max_size=200)))
    value = draw(
        json_values if kind == "random" else almost_updates() if kind == "almost" else telegram_updates()
    )
    try:
        return json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    except (ValueError, RecursionError):
        reject()


@st.composite
def telegram_requests(draw: st.DrawFn) -> Request:
    body = draw(telegram_bodies())
    right = [("Content-Type", "application/json"), ("X-Telegram-Bot-Api-Secret-Token", SECRET)]
    if draw(st.booleans()):  # as Telegram would post it: only the body is hostile
        return Request("POST", WEBHOOK_PATH, right, body)
    headers: list[tuple[str, str]] = []
    content_type = draw(content_types("application/json"))
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    secret = draw(st.one_of(st.just(SECRET), st.just(SECRET), st.none(), header_values))
    if secret is not None:
        headers.append(("X-Telegram-Bot-Api-Secret-Token", secret))
    headers += draw(random_headers)
    return Request(draw(methods), WEBHOOK_PATH + draw(queries([1])), headers, body)


# -- the fuzz -----------------------------------------------------------------------------------------


def fuzz(served: Served, requests: st.SearchStrategy[Request]) -> list[int | None]:
    statuses: list[int | None] = []

    @fuzz_settings()
    @given(requests)
    def one(request: Request) -> None:
        statuses.append(served.send(request))

    one()
    return statuses


@pytest.mark.parametrize("public_url", [PUBLIC_URL, None], ids=["behind-a-proxy", "by-host-header"])
@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
def test_twilio_webhooks_answer_any_request_below_500(served: Served, path: str) -> None:
    statuses = set(fuzz(served, sms_requests(path, served)))
    assert {200 if path == "/sms/inbound" else 204, 400, 403, 405} <= statuses, statuses  # all kinds ran
    served.assert_healthy()


def test_the_telegram_webhook_answers_any_request_below_500(served: Served) -> None:
    statuses = set(fuzz(served, telegram_requests()))
    assert {200, 400, 401, 405} <= statuses, statuses  # all kinds ran
    served.assert_healthy()
    update = {
        "update_id": 2**40,
        "message": {
            "message_id": 1,
            "date": 1772460000,
            "chat": {"id": JAMIE_CHAT, "type": "private", "first_name": "Jamie"},
            "from": {"id": JAMIE_CHAT, "is_bot": False, "first_name": "Jamie"},
            "text": "still here after all that",
        },
    }
    headers = [("Content-Type", "application/json"), ("X-Telegram-Bot-Api-Secret-Token", SECRET)]
    assert served.send(Request("POST", WEBHOOK_PATH, headers, json.dumps(update).encode())) == 200

    async def stored() -> list[str]:
        async with served.app.db.transaction() as s:
            rows = await s.scalars(select(Message).where(col(Message.provider_id) == f"tg:u:{2**40}"))
            return [m.body for m in rows.all()]

    assert served.run(stored()) == ["still here after all that"]


# -- broken HTTP, over a raw socket -------------------------------------------------------------------

FRAMING_HEADERS = [
    b"X-Big: " + b"a" * 9000,  # over aiohttp's 8190-byte field limit
    b"No-Colon",
    b" Folded: continuation",
    b"X-Nul: a\x00b",
    b"X-Bytes: \xff\xfe\xc3\x28",
    b"X-Tab:\tvalue\t",
    b"Content-Length: abc",
    b"Content-Length: -1",
    b"Content-Length: 99999999999999999999",
    b"Content-Length: 1, 2",
    b"Content-Length: 3",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: xchunked",
    b"Content-Encoding: gzip",
    b"Content-Encoding: deflate",
    b"Content-Encoding: br",
    b"Expect: 100-continue",
    b"Connection: Upgrade",
    b"Upgrade: websocket",
    b"Upgrade: h2c",
    b"Host: ",
    b"Host: a:b:c",
    b"Host: \xc3\xa9",
    b"Content-Type: application/x-www-form-urlencoded; charset=\xff",
]
CHUNKS = [
    b"5\r\nBody=\r\n0\r\n\r\n",
    b"zz\r\nBody=hi\r\n0\r\n\r\n",
    b"-1\r\nx\r\n0\r\n\r\n",
    b"ffffffffffffffffffff\r\nx\r\n",
    b"5;ext=\xff\r\nBody=\r\n0\r\n\r\n",
    b"5\r\nBody=0\r\n\r\n",  # no CRLF after the data
    b"5\nBody=\n0\n\n",  # bare LF
    b"3\r\nabc\r\n0\r\nTrailer: \xff\r\n\r\n",
    b"0\r\n",  # ends before the final CRLF
    b"5\r\nBo",  # ends mid-chunk
]


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """A request that would reach one of the webhooks but for one thing wrong in its HTTP framing."""
    path = draw(st.sampled_from(["/sms/inbound", "/sms/status", WEBHOOK_PATH]))
    if path == WEBHOOK_PATH:
        update = {
            "update_id": 9,
            "message": {"message_id": 1, "date": 1, "chat": {"id": 5, "type": "private"}},
        }
        content_type, body = b"application/json", json.dumps(update).encode()
    else:
        content_type, body = FORM.encode(), urlencode(inbound_fields(ALEX, "hi", "SM" + "0" * 32)).encode()
    method, target, version, framing = b"POST", path.encode(), b"HTTP/1.1", "length"
    extra: list[bytes] = []
    defect = draw(st.sampled_from(["method", "target", "version", "header", "framing", "encoding", "body"]))
    if defect == "method":
        method = draw(
            st.sampled_from([b"post", b"GET", b"PO ST", b"P\xffST", b"", b"CONNECT", b"PRI", b"X" * 100])
        )
    elif defect == "target":
        target += draw(
            st.sampled_from([b"?m=\xff", b"?m=\xc2\xb2", b"\xff", b"#x", b" /y", b"?" + b"a" * 9000])
        )
    elif defect == "version":
        version = draw(
            st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"", b"HTTP/0.9", b"HTTP/1.01"])
        )
    elif defect == "header":
        extra = draw(st.lists(st.sampled_from(FRAMING_HEADERS), min_size=1, max_size=2))
    elif defect == "framing":
        framing = draw(st.sampled_from(["short", "long", "chunked", "none", "both"]))
    elif defect == "encoding":
        extra = [
            b"Content-Encoding: "
            + draw(st.sampled_from([b"gzip", b"deflate", b"br", b"zstd", b"gzip, gzip", b"x"]))
        ]
        framing = draw(st.sampled_from(["length", "chunked"]))
    else:
        body = draw(st.binary(max_size=200))
    lines = [method + b" " + target + (b" " + version if version else b""), b"Host: 127.0.0.1"]
    lines += [
        b"Content-Type: " + content_type,
        b"X-Twilio-Signature: c2lnbmF0dXJl",  # enough to be read: it is checked against the body
        b"X-Telegram-Bot-Api-Secret-Token: " + SECRET.encode(),
        *extra,
    ]
    if framing in ("length", "both"):
        lines.append(b"Content-Length: %d" % len(body))
    elif framing == "short":  # the body ends early: the client hangs up on it
        lines.append(b"Content-Length: %d" % (len(body) + 10))
    elif framing == "long":  # more bytes than announced: the rest is garbage as the next request
        lines.append(b"Content-Length: %d" % (len(body) // 2))
    if framing in ("chunked", "both"):
        lines.append(b"Transfer-Encoding: chunked")
        body = draw(st.sampled_from([*CHUNKS, b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)]))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def _raw(port: int, request: bytes) -> bytes:
    """The status line the server answered `request` with (b"" when it just hung up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.readline(), 0.2)
        except TimeoutError:  # waiting for the rest of the body: hang up on it
            writer.write_eof()
            return await asyncio.wait_for(reader.readline(), 5)
    except ConnectionError:
        return b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def test_broken_http_framing_is_refused_below_500(served: Served) -> None:
    lines: list[bytes] = []

    @fuzz_settings()
    @given(raw_requests())
    def one(request: bytes) -> None:
        seen = len(served.caplog.records)
        line = served.run(_raw(served.port, request))
        lines.append(line)
        assert line == b"" or (line.startswith(b"HTTP/") and int(line.split()[1]) < 500), (
            line,
            request[:300],
        )
        served.assert_no_errors(since=seen)

    one()
    answered = {line.split()[1] for line in lines if line}
    assert {b"200", b"400", b"403"} <= answered, answered  # refused by aiohttp, and by the webhooks
    served.assert_healthy()
