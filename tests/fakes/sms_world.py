"""The whole application on SMS, with only the network edge faked: Twilio's REST API (`FakeTwilio`, real
HTTP) and Twilio's webhook calls (signed with twilio's own `RequestValidator`, posted over aiohttp's test
client to `bot.server.make_web_app`). The app believes it lives at PUBLIC_URL behind a proxy that strips
the `/hooks` prefix, so signatures are checked against the public URL, never the local one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.channels.sms.adapter import SmsChannel
from bot.clock import ManualClock
from bot.server import make_web_app
from config.settings import Settings
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, sign

PUBLIC_URL = "https://peerline.example.org/hooks"
FROM_NUMBER = "+15017122661"
UNSET: Any = object()


def inbound_fields(number: str, body: str, sid: str) -> dict[str, str]:
    """The fields of Twilio's incoming-message webhook, as Twilio posts them."""
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": FROM_NUMBER,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "ApiVersion": "2010-04-01",
    }


@dataclass
class SmsWorld:
    app: App
    twilio: FakeTwilio
    client: TestClient[Any, Any]
    counter: int = 0
    responses: list[ClientResponse] = field(default_factory=list)

    def local(self, url: str) -> str:
        assert url.startswith(PUBLIC_URL), f"{url} is not under {PUBLIC_URL}"
        return url[len(PUBLIC_URL) :] or "/"

    async def post(
        self, url: str, params: dict[str, str], *, token: str = AUTH_TOKEN, signature: Any = UNSET
    ) -> ClientResponse:
        """POST `params` to our public `url` the way Twilio does, signed unless told otherwise."""
        headers = {}
        if signature is UNSET:
            signature = sign(url, params, token)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        response = await self.client.post(self.local(url), data=params, headers=headers)
        await response.read()
        self.responses.append(response)
        return response

    def inbound_params(self, number: str, body: str, sid: str | None = None) -> dict[str, str]:
        self.counter += 1
        return inbound_fields(number, body, sid or f"SM{self.counter:032x}")

    async def text(
        self, number: str, body: str, *, sid: str | None = None, deliver: bool = True
    ) -> ClientResponse:
        """A person texts us; then (by default) the outbox delivers whatever that caused."""
        response = await self.post(f"{PUBLIC_URL}/sms/inbound", self.inbound_params(number, body, sid))
        assert response.status == 200, await response.text()
        if deliver:
            await self.deliver()
        return response

    async def deliver(self) -> int:
        return await self.app.sender.drain()

    async def receipt(self, sid: str, status: str, error_code: int | None = None) -> ClientResponse:
        url, params = self.twilio.receipt(sid, status, error_code)
        return await self.post(url, params)


@asynccontextmanager
async def sms_world(db_url: str, clock: ManualClock, **overrides: Any) -> AsyncIterator[SmsWorld]:
    twilio = FakeTwilio()
    await twilio.start()
    values: dict[str, Any] = {
        "database_url": db_url,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "twilio_from_number": FROM_NUMBER,
        "twilio_api_url": twilio.url,
        "twilio_messages_per_second": 1000.0,
        "public_url": PUBLIC_URL,
        **overrides,
    }
    settings = Settings(**values)
    app = App.build(settings, clock=clock)
    channel = SmsChannel.from_settings(settings)
    assert channel is not None
    app.add_channel(channel)
    await app.db.create_all()
    client: TestClient[Any, Any] = TestClient(TestServer(make_web_app(app)))
    await client.start_server()
    try:
        yield SmsWorld(app, twilio, client)
    finally:
        await client.close()
        await app.close()
        await twilio.close()
