"""Twilio webhooks: `POST /sms/inbound` (a text from a person) and `POST /sms/status` (a delivery receipt).

Both verify `X-Twilio-Signature` with twilio's `RequestValidator` against the URL Twilio called: the
public URL (`PEERLINE_PUBLIC_URL` + path and query) when the app sits behind a proxy, so the signature
still matches after TLS termination and host rewriting. Inbound texts go to the one pipeline and the
webhook answers an empty TwiML `<Response/>` at once: replies travel through the outbox and the REST API,
so nothing is lost if we crash after the commit, and Twilio's retries are dropped by `MessageSid`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from bot.channels.base import Inbound
from bot.channels.sms.adapter import OPTED_OUT, provider_id
from bot.outbox.delivery import advance_status
from bot.people.enrolment import UserError, normalise_phone
from bot.people.lost_contact import lost_contact
from flows.numbers import parse_id
from storage.models import ChannelName, Direction, Message, MessageStatus
from storage.repo import identity_for

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

# Twilio's MessageStatus values (twilio_api_v2010 `message_enum_status`) in our delivery vocabulary.
TWILIO_STATUS = {
    "accepted": MessageStatus.QUEUED,
    "scheduled": MessageStatus.QUEUED,
    "queued": MessageStatus.QUEUED,
    "sending": MessageStatus.SENDING,
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "undelivered": MessageStatus.UNDELIVERED,
    "failed": MessageStatus.FAILED,
    "canceled": MessageStatus.FAILED,
    "read": MessageStatus.READ,
}
# Receipt error codes that say the number cannot take texts at all (not "phone switched off", 30003).
UNREACHABLE_RECEIPT = frozenset({"30005", "30006"})  # unknown handset; landline or unreachable carrier


class SmsWebhooks:
    """The two Twilio endpoints, bound to one application."""

    def __init__(self, app: App) -> None:
        self._app = app
        token = app.settings.twilio_auth_token
        self._validator = RequestValidator(token.get_secret_value()) if token is not None else None
        self._public_url = (app.settings.public_url or "").rstrip("/") or None

    def register(self, web_app: web.Application) -> None:
        sms = self._app.channels.get(ChannelName.SMS)
        if sms is not None and not sms.listening:
            sms.listen(self._app.pipeline.handle)
        web_app.router.add_post("/sms/inbound", self.inbound)
        web_app.router.add_post("/sms/status", self.status)

    def signed_url(self, request: web.Request) -> str:
        """The URL Twilio signed: ours as the world sees it, not as the proxy forwarded it."""
        if self._public_url is not None:
            return self._public_url + request.path_qs
        return str(request.url)

    async def _verified_form(self, request: web.Request) -> MultiDictProxy[str]:
        if self._validator is None:
            log.warning("refused %s: PEERLINE_TWILIO_AUTH_TOKEN is not set, cannot verify", request.path)
            raise web.HTTPForbidden(text="SMS is not configured")
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            log.warning("refused %s from %s: no %s header", request.path, request.remote, SIGNATURE_HEADER)
            raise web.HTTPForbidden(text="missing signature")
        params = await _form(request)
        try:
            url = self.signed_url(request)
        except ValueError:  # no URL has this Host (a port that is no number, bytes that are not text)
            raise _bad(request, f"no URL has the Host header {request.host[:40]!r}") from None
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        if not self._validator.validate(url, params, signature, algorithm):
            log.warning("refused %s from %s: bad signature for %s", request.path, request.remote, url)
            raise web.HTTPForbidden(text="bad signature")
        return params

    async def inbound(self, request: web.Request) -> web.Response:
        form = await self._verified_form(request)
        sid = form.get("MessageSid") or form.get("SmsMessageSid")
        sender = form.get("From")
        missing = [name for name, value in (("MessageSid", sid), ("From", sender)) if not value]
        if "Body" not in form:
            missing.append("Body")
        if missing or sid is None or sender is None:
            log.warning("bad inbound SMS webhook: missing %s", ", ".join(missing))
            raise web.HTTPBadRequest(text=f"missing {', '.join(missing)}")
        sms = self._app.channels.get(ChannelName.SMS)
        receive = sms.deliver if sms is not None and sms.listening else self._app.pipeline.handle
        await receive(
            Inbound(
                channel=ChannelName.SMS,
                address=_address(sender),
                text=form["Body"],
                provider_id=provider_id(sid),
                received_at=self._app.clock.now(),
            )
        )
        return web.Response(text=EMPTY_TWIML, content_type="text/xml")

    async def status(self, request: web.Request) -> web.Response:
        form = await self._verified_form(request)
        sid = form.get("MessageSid") or form.get("SmsSid")
        reported = form.get("MessageStatus") or form.get("SmsStatus")
        if not sid or not reported:
            log.warning("bad SMS status webhook: needs MessageSid and MessageStatus")
            raise web.HTTPBadRequest(text="missing MessageSid or MessageStatus")
        status = TWILIO_STATUS.get(reported.lower())
        if status is None:
            log.info("ignored SMS status %r for %s", reported, sid)
            return web.Response(status=204)
        await self._record(request.query.get("m"), sid, status, form.get("ErrorCode") or None)
        return web.Response(status=204)

    async def _record(self, our_id: str | None, sid: str, status: MessageStatus, error: str | None) -> None:
        app = self._app
        now = app.clock.now()
        async with app.db.transaction() as s:
            message = await _outbound(s, our_id, provider_id(sid))
            if message is None:
                log.info("SMS status %s for unknown message %s (ours: %s)", status, sid, our_id)
                return
            advanced = advance_status(message.status, status)
            if advanced == message.status:
                return  # late or repeated: a status never moves back
            message.status = advanced
            message.updated_at = now
            if error is not None and status in (MessageStatus.FAILED, MessageStatus.UNDELIVERED):
                message.error_code = error
            if error == str(OPTED_OUT) or error in UNREACHABLE_RECEIPT:
                ident = await identity_for(s, ChannelName.SMS, message.address)
                if ident is not None:
                    await lost_contact(
                        s,
                        app.content.messages,
                        ident,
                        now,
                        opted_out=error == str(OPTED_OUT),
                        code=error,
                        source="receipt",
                    )


async def _outbound(s: AsyncSession, our_id: str | None, pid: str) -> Message | None:
    """The outbound message a receipt is about, by our id (always there) or Twilio's sid."""
    ours = parse_id(our_id) if our_id is not None else None
    if ours is not None:
        message = await s.get(Message, ours, with_for_update=True)
        if (
            message is not None
            and message.direction == Direction.OUTBOUND
            and message.channel == ChannelName.SMS
            and message.provider_id in (None, pid)
        ):
            return message
        # An earlier attempt that timed out on our side may still have been sent: not this row's status.
        return None
    return (
        await s.scalars(
            select(Message)
            .where(col(Message.provider_id) == pid, col(Message.direction) == Direction.OUTBOUND)
            .with_for_update()
        )
    ).first()


_FORM = "application/x-www-form-urlencoded"
_CHARSETS = frozenset({"utf-8", "utf8"})


async def _form(request: web.Request) -> MultiDictProxy[str]:
    """The fields of a Twilio webhook, read from the raw body: a form, in UTF-8, as Twilio sends it.

    Anything else (another content type, an unknown charset, bytes that are not UTF-8, a bad escape, a
    body that is cut short or will not decode) is a 400 with the reason in the log, never a traceback."""
    if request.content_type != _FORM:
        raise _bad(request, f"expected {_FORM}, got {request.content_type or 'no content type'}")
    charset = (request.charset or "utf-8").lower()
    if charset not in _CHARSETS:
        raise _bad(request, f"unsupported charset {charset[:40]!r}")
    try:
        body = await request.read()
    except ConnectionResetError:  # the client hung up before the body it announced arrived
        raise _bad(request, "unreadable body (the client hung up before its end)") from None
    except web.RequestPayloadError as exc:  # bad chunking, a Content-Encoding the body is not in
        raise _bad(request, f"unreadable body ({' '.join(str(exc).split())[:200]})") from None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise _bad(request, f"unreadable form ({exc.__class__.__name__})") from None
    return MultiDictProxy(MultiDict(pairs))


def _bad(request: web.Request, reason: str) -> web.HTTPBadRequest:
    log.warning("refused %s from %s: %s", request.path, request.remote, reason)
    return web.HTTPBadRequest(text=reason)


def _address(sender: str) -> str:
    """E.164 for phone numbers; anything else (a short code, a channel address) as Twilio sent it."""
    try:
        return normalise_phone(sender)
    except UserError:
        return sender.strip()
