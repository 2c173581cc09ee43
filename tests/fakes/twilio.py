"""A local Twilio REST server over real HTTP, checked against Twilio's published OpenAPI description.

`FakeTwilio` serves the operations in `twilio_api_v2010_messages.json` (a subset of twilio-oai's
`twilio_api_v2010.json`, MIT, see `twilio-oai.LICENSE`): every request must match a path and method of
the spec, authenticate with HTTP basic auth as the account in the path, and send only parameters the spec
knows, with the types, patterns and enums it gives. Twilio's own cross-field rules (a sender, a body) are
enforced with Twilio's error codes. Anything else is answered 400 and recorded in `violations`, so a test
fails loudly. Tests can script error answers (21610, 20429, 500) and get status callbacks to post back.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from aiohttp import web
from twilio.request_validator import RequestValidator

from bot.channels.sms.adapter import SmsChannel
from flows.sms_text import segments

SPEC_PATH = Path(__file__).with_name("twilio_api_v2010_messages.json")
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "The 'From' number is required.",
    21604: "The 'To' number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21620: "Invalid parameter",
}


@dataclass(frozen=True, slots=True)
class Recorded:
    method: str
    path: str
    params: dict[str, list[str]]
    answered: int

    def one(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@dataclass
class Scripted:
    status: int
    code: int


@dataclass
class Created:
    sid: str
    json: dict[str, Any]
    status_callback: str | None


class SpecError(Exception):
    """A request the published API description does not allow."""


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    operation: dict[str, Any]


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    # Real Twilio ignores parameters it does not know; the fake refuses them so a typo cannot pass a test.
    refuse_unknown: bool = True
    requests: list[Recorded] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    created: dict[str, Created] = field(default_factory=dict)
    script: list[Scripted] = field(default_factory=list)
    # Called with each created message before the 201 goes back (a receipt racing our own commit).
    before_answer: Callable[[Created], Awaitable[None]] | None = None
    url: str = ""
    _taken: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
        self._routes = [
            _Route(method.upper(), template, _path_regex(template, op), op)
            for template, item in self.spec["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "put", "delete")
        ]
        self._runner: web.AppRunner | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting and inspection ------------------------------------------------------------------

    def fail_next(self, code: int, *, status: int | None = None, times: int = 1) -> None:
        """Answer the next `times` create requests with Twilio error `code`."""
        http = status if status is not None else {20429: 429, 20500: 500, 20003: 401}.get(code, 400)
        self.script.extend(Scripted(http, code) for _ in range(times))

    def messages(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/Messages.json") and r.method == "POST"]

    def bodies_to(self, number: str) -> list[str]:
        """Bodies of the messages Twilio accepted for `number`, in order."""
        return [c.json["body"] for c in self.created.values() if c.json["to"] == number]

    def sids_to(self, number: str) -> list[str]:
        return [c.sid for c in self.created.values() if c.json["to"] == number]

    def take(self, number: str) -> list[str]:
        """Bodies accepted for `number` since the last `take` for it."""
        seen = self._taken.get(number, 0)
        bodies = self.bodies_to(number)
        self._taken[number] = len(bodies)
        return bodies[seen:]

    def receipt(self, sid: str, status: str, error_code: int | None = None) -> tuple[str, dict[str, str]]:
        """The status callback Twilio would POST for message `sid`: (url, form fields)."""
        created = self.created[sid]
        assert created.status_callback, f"message {sid} was sent without a StatusCallback"
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": created.json["from"] or "",
            "To": created.json["to"],
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
        }
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return created.status_callback, params

    # -- the server --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        params = parse_qs(raw, keep_blank_values=True)
        try:
            route, path_params = self._route(request)
            self._authenticate(request, path_params)
            if request.method == "POST" and not request.content_type.startswith(
                "application/x-www-form-urlencoded"
            ):
                raise SpecError(f"content type {request.content_type!r}, expected a form")
            self._check_params(route.operation, params)
        except _TwilioError as refusal:
            self.requests.append(Recorded(request.method, request.path, params, refusal.status))
            return _error(refusal.status, refusal.code, refusal.detail)
        except SpecError as exc:
            self.violations.append(f"{request.method} {request.path}: {exc}")
            self.requests.append(Recorded(request.method, request.path, params, 400))
            return _error(400, 21620, str(exc))
        if self.script:
            scripted = self.script.pop(0)
            self.requests.append(Recorded(request.method, request.path, params, scripted.status))
            return _error(scripted.status, scripted.code)
        created = self._create(params)
        if self.before_answer is not None:
            await self.before_answer(created)
        self.requests.append(Recorded(request.method, request.path, params, 201))
        return web.json_response(created.json, status=201)

    def _route(self, request: web.Request) -> tuple[_Route, dict[str, str]]:
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is not None and route.method == request.method:
                return route, match.groupdict()
        raise _TwilioError(404, 20404, f"{request.method} {request.path} is not in the API description")

    def _authenticate(self, request: web.Request, path_params: dict[str, str]) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        if scheme.lower() != "basic" or user != self.account_sid or password != self.auth_token:
            raise _TwilioError(401, 20003, "Authentication Error - invalid username or password")
        if path_params.get("AccountSid") != self.account_sid:
            raise _TwilioError(404, 20404, "The requested resource was not found")

    def _check_params(self, operation: dict[str, Any], params: dict[str, list[str]]) -> None:
        schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
        properties: dict[str, Any] = schema["properties"]
        for name, values in params.items():
            if name not in properties:
                if self.refuse_unknown:
                    raise SpecError(f"unknown parameter {name!r}")
                continue
            prop = self._resolve(properties[name])
            if prop.get("type") != "array" and len(values) > 1:
                raise SpecError(f"{name} given {len(values)} times")
            item = self._resolve(prop["items"]) if prop.get("type") == "array" else prop
            for value in values:
                problem = _value_problem(value, item)
                if problem:
                    raise SpecError(f"{name}={value!r}: {problem}")
        for name in schema.get("required", []):
            if not params.get(name):
                raise _TwilioError(400, 21604, f"A '{name}' parameter is required")
        # Rules Twilio states in the parameter descriptions rather than the schema.
        if not params.get("From") and not params.get("MessagingServiceSid"):
            raise _TwilioError(400, 21603, ERROR_MESSAGES[21603])
        if not any(params.get(n) for n in ("Body", "MediaUrl", "ContentSid")):
            raise _TwilioError(400, 21602, ERROR_MESSAGES[21602])
        body = (params.get("Body") or [""])[0]
        if len(body) > 1600:
            raise _TwilioError(400, 21617, ERROR_MESSAGES[21617])

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref")
        if ref is None:
            return schema
        name = ref.rsplit("/", 1)[-1]
        resolved: dict[str, Any] = self.spec["components"]["schemas"][name]
        return resolved

    def _create(self, params: dict[str, list[str]]) -> Created:
        sid = "SM" + secrets.token_hex(16)
        example = self.spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
        message = dict(
            example["responses"]["201"]["content"]["application/json"]["examples"]["create"]["value"]
        )
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = params.get("Body", [""])[0]
        message.update(
            account_sid=self.account_sid,
            sid=sid,
            body=body,
            to=params["To"][0],
            status="queued",
            num_segments=str(segments(body)),
            date_created=now,
            date_updated=now,
            date_sent=None,
            uri=f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            subresource_uris={"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
        )
        message["from"] = params.get("From", [None])[0]
        message["messaging_service_sid"] = params.get("MessagingServiceSid", [None])[0]
        known = self.spec["components"]["schemas"]["api.v2010.account.message"]["properties"]
        assert set(message) <= set(known), f"fake answers fields the spec lacks: {set(message) - set(known)}"
        created = Created(sid, message, params.get("StatusCallback", [None])[0])
        self.created[sid] = created
        return created


class _TwilioError(Exception):
    def __init__(self, status: int, code: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _path_regex(template: str, operation: dict[str, Any]) -> re.Pattern[str]:
    patterns = {
        p["name"]: p["schema"].get("pattern", "^[^/]+$").strip("^$")
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    }
    regex = re.escape(template)
    for name, pattern in patterns.items():
        regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>{pattern})")
    return re.compile(regex)


def _value_problem(value: str, schema: dict[str, Any]) -> str | None:
    kind = schema.get("type", "string")
    if kind == "integer":
        return None if re.fullmatch(r"-?\d+", value) else "not an integer"
    if kind == "number":
        try:
            float(value)
        except ValueError:
            return "not a number"
        return None
    if kind == "boolean":
        return None if value in ("true", "false", "True", "False") else "not a boolean"
    if "enum" in schema and value not in schema["enum"]:
        return f"not one of {schema['enum']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return f"does not match {schema['pattern']}"
    if "minLength" in schema and len(value) < schema["minLength"]:
        return "too short"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return "too long"
    fmt = schema.get("format")
    if fmt == "uri":
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname or "_" in parsed.hostname:
            return "not an absolute http(s) URL with a valid hostname"
    if fmt == "phone-number" and not (E164.match(value) or re.fullmatch(r"\d{5,6}", value)):
        return "not an E.164 number or short code"
    return None


def _error(status: int, code: int, detail: str | None = None) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": detail or ERROR_MESSAGES.get(code, "error"),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def sign(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for a POST of `params` to `url`."""
    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature


FROM_NUMBER = "+15017122661"


def sms_channel(twilio_url: str, **options: Any) -> SmsChannel:
    """Peerline's SMS channel pointed at a fake (or any) Twilio base URL, with this fake's credentials and
    no rate limit to speak of; `options` override any constructor argument."""
    settings: dict[str, Any] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_url": twilio_url,
        "messages_per_second": 1000.0,
    }
    return SmsChannel(**(settings | options))
