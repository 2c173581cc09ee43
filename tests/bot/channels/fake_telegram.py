"""A fake Telegram Bot API server over real HTTP, strict about the protocol.

Every request is checked against the published API description (the subset in `telegram-bot-api.json`,
MIT licence in `telegram-bot-api.LICENSE`): the method must exist, required parameters must be present
and every value must have the documented type, nested objects included. A violation is answered with
Telegram's 400 and recorded in `problems`, which the test fixture requires to be empty. What the fake
sends back (results and updates) is checked against the same description, so the fixtures stay honest.

Like Telegram it keeps the chats: messages the bot sent, edits, and the inline keyboards a person can
press; a press on a keyboard that was edited away is impossible. It serves `getUpdates` long polling,
delivers to a webhook with the secret header, and can be told to answer 429 or 403.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

SPEC_PATH = Path(__file__).with_name("telegram-bot-api.json")
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_MUST_BE = re.compile(r", must be (\w+)$")


class Spec:
    """Type checks from the Bot API description: values as JSON, or as form fields (strings)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.methods = {name.lower(): m for name, m in data["methods"].items()}
        self.types: Mapping[str, Any] = data["types"]

    @classmethod
    def load(cls) -> Spec:
        return cls(json.loads(SPEC_PATH.read_text(encoding="utf-8")))

    def method(self, name: str) -> Mapping[str, Any] | None:
        return self.methods.get(name.lower())  # Telegram method names are case-insensitive

    def params(
        self, method: Mapping[str, Any], raw: Mapping[str, Any], *, form: bool
    ) -> tuple[dict[str, Any], list[str]]:
        """Decoded parameters and the problems found (unknown, missing, mistyped)."""
        name = method["name"]
        fields = {f["name"]: f for f in method.get("fields", [])}
        problems = [f"{name}: unknown parameter {key!r}" for key in raw if key not in fields]
        decoded: dict[str, Any] = {}
        for spec_field in fields.values():
            key = spec_field["name"]
            if key not in raw:
                if spec_field["required"]:
                    problems.append(f"{name}: required parameter {key!r} is missing")
                continue
            value, found = self.value(raw[key], spec_field["types"], f"{name}.{key}", form=form)
            decoded[key] = value
            problems.extend(found)
        return decoded, problems

    def value(self, value: Any, types: list[str], where: str, *, form: bool = False) -> tuple[Any, list[str]]:
        """`value` decoded as the first of `types` it fits, or the problems with each."""
        found: list[str] = []
        for type_name in types:
            decoded, problems = self._as(value, type_name, where, form)
            if not problems:
                return decoded, []
            found.extend(problems)
        if len(types) > 1:
            return value, [f"{where}: {value!r} is none of {' / '.join(types)} ({'; '.join(found)})"]
        return value, found

    def _as(self, value: Any, type_name: str, where: str, form: bool) -> tuple[Any, list[str]]:
        if type_name.startswith("Array of "):
            return self._array(value, type_name.removeprefix("Array of "), where, form)
        scalar = self._scalar(value, type_name, form)
        if scalar is not None:
            ok, decoded = scalar
            return decoded, [] if ok else [f"{where}: expected {type_name}, got {value!r}"]
        if type_name not in self.types:
            return value, [f"{where}: type {type_name} is not in the spec subset"]
        if form and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return value, [f"{where}: expected a JSON-serialized {type_name}, got {value!r}"]
        return self._object(value, type_name, where)

    @staticmethod
    def _scalar(value: Any, type_name: str, form: bool) -> tuple[bool, Any] | None:
        """(fits, decoded) for a scalar type; None when `type_name` is not a scalar."""
        text = form and isinstance(value, str)
        if type_name == "Integer":
            if text:
                return (True, int(value)) if re.fullmatch(r"-?\d+", value) else (False, value)
            return isinstance(value, int) and not isinstance(value, bool), value
        if type_name in ("Float", "Float number"):
            if text:
                try:
                    return True, float(value)
                except ValueError:
                    return False, value
            return isinstance(value, int | float) and not isinstance(value, bool), value
        if type_name in ("Boolean", "True"):
            allowed = ("true",) if type_name == "True" else ("true", "false")
            if text:
                return (value in allowed, value == "true")
            return isinstance(value, bool) and (value or type_name == "Boolean"), value
        if type_name == "String":
            return isinstance(value, str), value
        if type_name == "InputFile":
            return False, value  # this fake takes no uploads
        return None

    def _array(self, value: Any, item_type: str, where: str, form: bool) -> tuple[Any, list[str]]:
        if form and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                return value, [f"{where}: expected a JSON-serialized array, got {value!r}"]
        if not isinstance(value, list):
            return value, [f"{where}: expected Array of {item_type}, got {value!r}"]
        items, problems = [], []
        for index, item in enumerate(value):
            decoded, found = self.value(item, [item_type], f"{where}[{index}]")
            items.append(decoded)
            problems.extend(found)
        return items, problems

    def _object(self, value: Any, type_name: str, where: str) -> tuple[Any, list[str]]:
        spec = self.types[type_name]
        if not isinstance(value, dict):
            return value, [f"{where}: expected a {type_name} object, got {value!r}"]
        if "subtypes" in spec:  # e.g. BotCommandScope: the subtype whose fixed "type" matches
            tried: list[str] = []
            for subtype in spec["subtypes"]:
                fixed = self._fixed_type(subtype)
                if fixed is None or fixed == value.get("type"):
                    decoded, problems = self._object(value, subtype, where)
                    if not problems or fixed is not None:
                        return decoded, problems
                    tried.extend(problems)
            return value, [f"{where}: matches no subtype of {type_name} ({'; '.join(tried)})"]
        fields = {f["name"]: f for f in spec.get("fields", [])}
        problems = [f"{where}: {type_name} has no field {key!r}" for key in value if key not in fields]
        for key, spec_field in fields.items():
            if key not in value:
                if spec_field["required"]:
                    problems.append(f"{where}: {type_name}.{key} is required")
                continue
            _, found = self.value(value[key], spec_field["types"], f"{where}.{key}")
            problems.extend(found)
            fixed = _MUST_BE.search(spec_field.get("description", ""))
            if fixed and value[key] != fixed.group(1):
                problems.append(f"{where}.{key}: must be {fixed.group(1)!r}, got {value[key]!r}")
        return value, problems

    def _fixed_type(self, type_name: str) -> str | None:
        for spec_field in self.types.get(type_name, {}).get("fields", []):
            if spec_field["name"] == "type":
                fixed = _MUST_BE.search(spec_field.get("description", ""))
                return fixed.group(1) if fixed else None
        return None


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float


@dataclass(slots=True)
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: str | None = None
    times: int = 1


class ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


@dataclass
class FakeTelegram:
    """The Bot API for one bot on 127.0.0.1; `url` is what PEERLINE_TELEGRAM_API_URL takes."""

    token: str
    username: str = "PeerlineTestBot"
    clock: Callable[[], float] = time.monotonic  # stamps calls (tests of send spacing pass a virtual one)
    spec: Spec = field(default_factory=Spec.load)
    calls: list[Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)
    unknown_chats: set[str] = field(default_factory=set)
    webhook: dict[str, Any] | None = None
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = ""
        self._failures: list[Failure] = []
        self._updates: list[dict[str, Any]] = []
        self._chats: dict[str, list[dict[str, Any]]] = {}
        self._open_queries: set[str] = set()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(500)
        self._new_update = asyncio.Event()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Callable[[Mapping[str, Any]], Awaitable[Any]]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
        }

    # -- running ----------------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    # -- what tests tell it -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        chat_id: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` (to `chat_id`, if given) with this error."""
        self._failures.append(Failure(method, status, description, retry_after, chat_id, times))

    def push(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates; returns it."""
        self._check("Update", update, "pushed update")
        self._updates.append(update)
        self._new_update.set()
        return update

    def message_update(self, chat_id: str, text: str, *, name: str = "Alex") -> dict[str, Any]:
        """An update in which a person writes `text` in their private chat with the bot (not queued)."""
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private", "first_name": name},
            "from": self._user(chat_id, name),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return {"update_id": next(self._update_ids), "message": message}

    def press_update(self, chat_id: str, label: str, *, name: str = "Alex") -> dict[str, Any]:
        """An update in which a person presses the button `label` on the newest message showing one."""
        for message in reversed(self._chats.get(chat_id, [])):
            for row in message.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label:
                        query_id = str(next(self._ids))
                        self._open_queries.add(query_id)
                        query = {
                            "id": query_id,
                            "from": self._user(chat_id, name),
                            "message": copy.deepcopy(message),
                            "chat_instance": f"ci{chat_id}",
                            "data": button["callback_data"],
                        }
                        return {"update_id": next(self._update_ids), "callback_query": query}
        raise AssertionError(f"no button {label!r} to press in chat {chat_id}: {self.texts(chat_id)}")

    def user_message(self, chat_id: str, text: str, *, name: str = "Alex") -> dict[str, Any]:
        """A person writes `text`; the update waits in getUpdates."""
        return self.push(self.message_update(chat_id, text, name=name))

    def press(self, chat_id: str, label: str, *, name: str = "Alex") -> dict[str, Any]:
        """A person presses a button; the update waits in getUpdates."""
        return self.push(self.press_update(chat_id, label, name=name))

    async def post_to_webhook(self, update: dict[str, Any], *, secret: str | None = None) -> int:
        """Deliver an update the way Telegram does in webhook mode; returns the HTTP status."""
        assert self.webhook is not None, "no webhook set"
        self._check("Update", update, "webhook update")
        token = self.webhook.get("secret_token") if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.webhook["url"], json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # -- what tests look at -----------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def chat(self, chat_id: str) -> list[dict[str, Any]]:
        """Messages the bot sent to this chat, as they look now (after edits); copies."""
        return copy.deepcopy(self._chats.get(chat_id, []))

    def texts(self, chat_id: str) -> list[str]:
        return [m["text"] for m in self.chat(chat_id)]

    async def wait_handled(self, update: Mapping[str, Any], within: float = 10.0) -> None:
        """Wait until a polling bot confirmed `update` by asking for later ones (it is fully handled)."""
        await self.wait_for(
            lambda: any(
                c.method == "getUpdates" and c.params.get("offset", 0) > update["update_id"]
                for c in self.calls
            ),
            within,
        )

    async def wait_for(self, condition: Callable[[], bool], within: float = 10.0) -> None:
        """Wait (bounded) until `condition()` holds, e.g. until the bot made some call."""
        deadline = asyncio.get_running_loop().time() + within
        while not condition():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out; calls so far: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    # -- the API ----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(ApiError(401, "Unauthorized"))
        method = self.spec.method(request.match_info["method"])
        if method is None:
            self.problems.append(f"unknown method {request.match_info['method']!r}")
            return _error(ApiError(404, "Not Found"))
        raw, form = await _read_params(request)
        params, problems = self.spec.params(method, raw, form=form)
        if problems:
            self.problems.extend(problems)
            return _error(ApiError(400, "Bad Request: " + "; ".join(problems)))
        name = method["name"]
        self.calls.append(Call(name, params, self.clock()))
        try:
            self._injected_failure(name, params)
            result = await self._methods[name](params)
        except ApiError as exc:
            return _error(exc)
        self._check_result(method, result)
        return web.json_response({"ok": True, "result": result})

    def _injected_failure(self, name: str, params: Mapping[str, Any]) -> None:
        chat = str(params.get("chat_id", ""))
        for failure in self._failures:
            if failure.method == name and failure.chat_id in (None, chat):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                raise ApiError(failure.status, failure.description, failure.retry_after)
        if name == "sendMessage" and chat in self.blocked:
            raise ApiError(403, BLOCKED)
        if name == "sendMessage" and chat in self.unknown_chats:
            raise ApiError(400, CHAT_NOT_FOUND)

    async def _get_me(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Peerline", "username": self.username}

    async def _get_updates(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset, limit = params.get("offset"), params.get("limit", 100)
        if offset is not None:  # an offset confirms every earlier update
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and params.get("timeout", 0) > 0:
            self._new_update.clear()
            waiter = asyncio.ensure_future(self._new_update.wait())
            closing = asyncio.ensure_future(self._closing.wait())
            await asyncio.wait({waiter, closing}, timeout=params["timeout"], return_when="FIRST_COMPLETED")
            waiter.cancel()
            closing.cancel()
        return copy.deepcopy(self._updates[:limit])

    async def _set_webhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    async def _delete_webhook(self, params: Mapping[str, Any]) -> bool:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _send_message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat = str(params["chat_id"])
        text = params["text"]
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if not 1 <= len(button.get("callback_data", "x").encode()) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Peerline", "username": self.username},
            "chat": {"id": int(chat), "type": "private", "first_name": "Person"},
            "date": int(time.time()),
            "text": text,
        }
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._chats.setdefault(chat, []).append(message)
        return copy.deepcopy(message)

    def _find(self, params: Mapping[str, Any]) -> dict[str, Any]:
        for message in self._chats.get(str(params.get("chat_id")), []):
            if message["message_id"] == params.get("message_id"):
                return message
        raise ApiError(400, "Bad Request: message to edit not found")

    async def _edit_message_text(self, params: Mapping[str, Any]) -> dict[str, Any]:
        message = self._find(params)
        text, markup = params.get("text"), params.get("reply_markup")
        if not text:
            raise ApiError(400, "Bad Request: text must be non-empty")
        if text == message["text"] and markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = text
        _set_markup(message, markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    async def _edit_message_reply_markup(self, params: Mapping[str, Any]) -> dict[str, Any]:
        message = self._find(params)
        if params.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        _set_markup(message, params.get("reply_markup"))
        return copy.deepcopy(message)

    async def _answer_callback_query(self, params: Mapping[str, Any]) -> bool:
        query_id = params["callback_query_id"]
        if query_id not in self._open_queries:
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self._open_queries.discard(query_id)
        return True

    async def _set_my_commands(self, params: Mapping[str, Any]) -> bool:
        for command in params["commands"]:
            if not _COMMAND.fullmatch(command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[_scope_key(params)] = params["commands"]
        return True

    async def _delete_my_commands(self, params: Mapping[str, Any]) -> bool:
        self.commands.pop(_scope_key(params), None)
        return True

    # -- helpers ----------------------------------------------------------------------------------

    def _user(self, chat_id: str, name: str) -> dict[str, Any]:
        return {"id": int(chat_id), "is_bot": False, "first_name": name, "language_code": "en"}

    def _check(self, type_name: str, value: Any, what: str) -> None:
        _, problems = self.spec.value(value, [type_name], what)
        self.problems.extend(problems)

    def _check_result(self, method: Mapping[str, Any], result: Any) -> None:
        _, problems = self.spec.value(result, method["returns"], f"{method['name']} result")
        self.problems.extend(problems)


def scope_key(scope: Mapping[str, Any] | None = None, language_code: str = "") -> tuple[str, str]:
    """How `commands` is keyed: the scope (default: all chats) and the language."""
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code


def _scope_key(params: Mapping[str, Any]) -> tuple[str, str]:
    return scope_key(params.get("scope"), params.get("language_code", ""))


def _set_markup(message: dict[str, Any], markup: Mapping[str, Any] | None) -> None:
    if markup:
        message["reply_markup"] = dict(markup)
    else:  # an edit without reply_markup removes the keyboard, as in Telegram
        message.pop("reply_markup", None)


async def _read_params(request: web.Request) -> tuple[dict[str, Any], bool]:
    """Parameters as Telegram takes them: query string, URL-encoded or multipart form, or JSON."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        params.update(body if isinstance(body, dict) else {})
        return params, False
    if request.can_read_body:
        params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    return params, True


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.status, "description": exc.description}
    if exc.retry_after is not None:
        body["parameters"] = {"retry_after": exc.retry_after}
    return web.json_response(body, status=exc.status)
