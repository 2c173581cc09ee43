"""The SMS channel: Twilio's Programmable Messaging REST API through twilio-python's async client.

Translation only: an `OutboundMessage` becomes one `Messages.create` call (text fitted to as few segments as
it honestly can be, see `flows.sms_text`), and Twilio's answer becomes `Sent` or `Failed`. Inbound messages
and delivery receipts arrive over webhooks (`bot.channels.sms.webhooks`).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.channels.base import Channel, Failed, FailureKind, OutboundMessage, SendResult, Sent, split_text
from bot.channels.ratelimit import RateLimiter
from config.settings import Settings
from flows.render import numbered
from flows.sms_text import fit_sms, segment_info

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
PROVIDER_PREFIX = "sms:"
MAX_BODY_CHARACTERS = 1600  # Twilio refuses a longer body (error 21617)

# Twilio error codes (https://www.twilio.com/docs/api/errors) that decide how a refusal is handled.
OPTED_OUT = 21610  # "Attempt to send to unsubscribed recipient": the person texted STOP
UNREACHABLE = frozenset(
    {
        21211,  # invalid 'To' phone number
        21612,  # the 'To' number is not reachable via SMS
        21614,  # 'To' number is not a valid mobile number (a landline)
    }
)
TOO_MANY_REQUESTS = 20429
AUTHENTICATION = 20003  # a wrong token is the operator's mistake: keep the messages until it is fixed


def provider_id(sid: str) -> str:
    return f"{PROVIDER_PREFIX}{sid}"


class RebasedHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """twilio's async HTTP client, sending what would go to https://api.twilio.com to `base_url`.

    twilio-python builds absolute URLs inside its generated resources, so another API host (a regional
    proxy, a test double) is reached the way Twilio support recommends: a custom HTTP client. `request` is
    re-done here because the stock one leaves requests without a time limit and authenticates with
    aiohttp's `BasicAuth`, which aiohttp 3.14 deprecates.
    """

    def __init__(self, base_url: str = TWILIO_API, *, timeout: float = 15.0) -> None:
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url.rstrip("/")
        self.session: aiohttp.ClientSession | None = None  # made on first use, inside the event loop

    def rebase(self, url: str) -> str:
        if url == TWILIO_API or url.startswith(TWILIO_API + "/"):
            return self.base_url + url[len(TWILIO_API) :]
        return url

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109  (twilio's HttpClient interface)
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        kwargs: dict[str, Any] = {
            "method": method.upper(),
            "url": self.rebase(url),
            "params": params,
            "data": data,
            "headers": headers,
            "allow_redirects": allow_redirects,
        }
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        self.log_request(kwargs)
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        async with self.session.request(**kwargs) as response:
            self.log_response(response.status, response)
            return Response(response.status, await response.text(), response.headers)


def failure(exc: TwilioRestException | TwilioServiceException) -> Failed:
    """What a refusal from Twilio means for delivery: retry later, give up, or give up on the person."""
    status = int(getattr(exc, "status", 0) or 0)
    raw_code = getattr(exc, "code", None)
    code = int(raw_code) if isinstance(raw_code, int | str) and str(raw_code).isdigit() else status
    message = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    reason = f"twilio {status} error {code}: {message}".strip()
    if code == OPTED_OUT:
        return Failed(reason, FailureKind.OPTED_OUT, code=str(code))
    if code in UNREACHABLE:
        return Failed(reason, FailureKind.UNREACHABLE, code=str(code))
    if status == 429 or status >= 500 or code in (TOO_MANY_REQUESTS, AUTHENTICATION):
        return Failed(reason, FailureKind.TRANSIENT, code=str(code))
    if 400 <= status < 500:
        return Failed(reason, FailureKind.REFUSED, code=str(code))
    return Failed(reason, FailureKind.TRANSIENT, code=str(code))


class SmsChannel(Channel):
    """Sends through one Twilio sender: a phone number, or a Messaging Service's sender pool."""

    name = "sms"
    has_buttons = False

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        api_url: str = TWILIO_API,
        messages_per_second: float = 1.0,
        limiter: RateLimiter | None = None,
        timeout: float = 15.0,
    ) -> None:
        if not from_number and not messaging_service_sid:
            raise ValueError("an SMS channel needs a from number or a messaging service sid")
        self._from = from_number
        self._service = messaging_service_sid
        self._status_callback = status_callback
        self._http = RebasedHttpClient(api_url, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self._http)
        self.limiter = limiter or RateLimiter(messages_per_second)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsChannel | None:
        """The channel a deployment configured, or None when Twilio settings are absent."""
        token = settings.twilio_auth_token
        sender = settings.twilio_from_number or settings.twilio_messaging_service_sid
        if not settings.twilio_account_sid or token is None or not sender:
            return None
        callback = None
        if settings.public_url:
            callback = f"{settings.public_url.rstrip('/')}/sms/status"
        else:
            log.warning("PEERLINE_PUBLIC_URL is not set: SMS delivery receipts will not be requested")
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            status_callback=callback,
            api_url=settings.twilio_api_url,
            messages_per_second=settings.twilio_messages_per_second,
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        """One `Messages.create` call, or several when the text is over Twilio's 1,600 characters.

        Every piece carries the same status callback (our message id), so receipts for any of them find
        the message; the provider id is the last piece's. If a later piece fails, the whole message is
        retried: a repeated part beats a lost one.
        """
        text = message.text
        if message.buttons:  # a sender that ignored `has_buttons`: the options are still shown
            text = "\n".join([text, *numbered(b.label for row in message.buttons for b in row)])
        body = fit_sms(text)
        info = segment_info(body)
        log.debug("sms to message %s: %s, %d segment(s)", message.message_id, info.encoding, info.segments)
        kwargs: dict[str, Any] = {"to": message.address}
        if self._service:
            kwargs["messaging_service_sid"] = self._service
        if self._from:
            kwargs["from_"] = self._from
        if self._status_callback:
            # Our own message id rides along, so a receipt that beats our commit of Twilio's sid still
            # finds its message.
            kwargs["status_callback"] = f"{self._status_callback}?m={message.message_id}"
        pieces = split_text(body, MAX_BODY_CHARACTERS)
        try:
            for number, piece in enumerate(pieces, start=1):
                if number > 1 and self.limiter is not None:
                    await self.limiter.acquire(message.address)
                created = await self._client.messages.create_async(body=piece, **kwargs)
        except (TwilioRestException, TwilioServiceException) as exc:
            return failure(exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Failed(f"network error talking to Twilio: {exc!r}", FailureKind.TRANSIENT, code="network")
        return Sent(provider_id=provider_id(str(created.sid)))

    async def close(self) -> None:
        await self._http.close()
