"""What the send tests share: the `webhook` backend's receiver, signed Twilio posts, status
callbacks and `POST /admin/messages`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fake_twilio import ACCOUNT_SID, FakeTwilio
from recordings import FORM, OUR_NUMBER, TOKEN, WHATSAPP_SENDER, fixture, pairs, sdk_signature

from gateway.testing import GatewayUnderTest, WebhookReceiver

PUBLIC_URL = "https://gw.example"
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}


class Clock:
    """The real time plus an offset a test moves forward (the customer's message ages)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


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


@dataclass(frozen=True, slots=True)
class Sending:
    """A Twilio messaging channel that sends, as the tests configure and reach it."""

    channel_id: str
    type_name: str
    sender: str
    """The channel's `send.from`."""
    inbound_fixture: str
    """The recorded webhook of the customer's message (tests/fixtures)."""

    def config(
        self, twilio: FakeTwilio, webhook_receiver: WebhookReceiver, **send: Any
    ) -> dict[str, Any]:
        """Return a gateway config with this channel sending to `twilio`, delivering to the
        `webhook_receiver`."""
        block = {"account_sid": ACCOUNT_SID, "from": self.sender, "base_url": twilio.url}
        block |= {"timeout": "2s", "retry": FAST_RETRY} | send
        channel = {"type": self.type_name, "auth_token": TOKEN, "public_url": PUBLIC_URL}
        return {
            "channels": {self.channel_id: channel | {"send": block}},
            "backends": webhook_receiver.backends(),
        }

    async def inbound(self, gut: GatewayUnderTest) -> dict[str, Any]:
        """Post the customer's recorded message as Twilio does; return it as stored."""
        await post_twilio(gut, self.channel_id, fixture(self.inbound_fixture))
        [message] = await gut.interactions(self.channel_id)
        return message.model_dump(mode="json")


SMS = Sending("sms", "twilio-sms", OUR_NUMBER, "sms_inbound")
WHATSAPP = Sending("wa", "twilio-whatsapp", WHATSAPP_SENDER, "whatsapp_text")


def reply(message: dict[str, Any], text: str = "On its way") -> dict[str, Any]:
    """Return a `POST /admin/messages` body answering `message` with `text`."""
    return {"to": {"interaction_id": message["id"]}, "content": {"text": text}}
