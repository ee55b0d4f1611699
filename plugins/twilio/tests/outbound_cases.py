"""What the send tests share: the `webhook` backend's receiver, signed Twilio posts, status
callbacks and `POST /admin/messages`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from fake_twilio import ACCOUNT_SID
from recordings import FORM, pairs, sdk_signature

from gateway.testing import FakeCRM, GatewayUnderTest

PUBLIC_URL = "https://gw.example"
HOOK_SECRET = "whsec_Z2F0ZXdheS10by1jcm0tc2lnbmluZy1r"
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}


class Hook(FakeCRM):
    """A `webhook` backend's receiver: keeps the interaction of every event, answers 204."""

    def __init__(self) -> None:
        super().__init__()
        self.interactions: list[dict[str, Any]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        return [web.post("/hook", self.hook)]

    async def hook(self, request: web.Request) -> web.Response:
        self.interactions.append((await request.json())["data"])
        return web.Response(status=204)

    def backends(self) -> dict[str, Any]:
        """Return the `backends` section of a gateway delivering to this receiver."""
        return {"crm": {"type": "webhook", "url": f"{self.url}/hook", "secret": HOOK_SECRET}}

    def messages(self) -> list[dict[str, Any]]:
        """Return the message interactions received, in order."""
        return [i for i in self.interactions if i["type"] == "message"]


async def post_twilio(gut: GatewayUnderTest, channel_id: str, body: bytes) -> None:
    """POST a form body to a channel, signed by the SDK for the URL Twilio calls."""
    signature = sdk_signature(f"{PUBLIC_URL}/webhooks/{channel_id}", pairs(body))
    headers = {"X-Twilio-Signature": signature, "Content-Type": FORM}
    response = await gut.client.post(f"/webhooks/{channel_id}", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def send(
    gut: GatewayUnderTest, body: dict[str, Any], key: str | None = "key-1"
) -> tuple[int, dict[str, Any]]:
    """POST `body` to `/admin/messages` under the Idempotency-Key `key`."""
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = await gut.admin.post("/admin/messages", json=body, headers=headers)
    return response.status, await response.json()


def status_callback(sid: str, status: str, *, to: str, from_: str) -> bytes:
    """Return the form of Twilio's status callback for the message `sid`."""
    return urlencode(
        {
            "SmsSid": sid,
            "SmsStatus": status,
            "MessageStatus": status,
            "To": to,
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
    ).encode()
