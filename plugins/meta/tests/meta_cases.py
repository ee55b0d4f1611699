"""Recorded Meta webhooks, signed the way Meta signs them, and their golden interactions.

`fixtures/NAME.json` is a body in Meta's documented format, byte for byte what the tests post;
`fixtures/NAME.golden.json` lists the canonical interactions it must become (regenerate with
`python tests/golden.py`, then review the diff: the golden files are the spec).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway_meta import InstagramChannel, MessengerChannel, WhatsAppCloudChannel

from gateway.plugin import Channel, WebhookRequest
from gateway.testing import Recordings, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
APP_SECRET = "7c2f5e8a1b9d4c6e3f0a2b4d6e8f1a3c"
"""Shaped like a Meta App Secret: 32 lowercase hex digits."""
VERIFY_TOKEN = "meta-verify-Qx7tK2"
SETTINGS = {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
URL = "https://gateway.example/webhooks/conformance"
CHANNELS: dict[str, type[Channel[Any]]] = {
    "wa": WhatsAppCloudChannel,
    "messenger": MessengerChannel,
    "instagram": InstagramChannel,
}
"""Which channel takes the fixtures named `PREFIX_...`."""


def hub_signature(app_secret: str, body: bytes) -> str:
    """Return `X-Hub-Signature-256` as Meta's docs compute it, independently of the plugin."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_request(
    body: bytes, *, app_secret: str = APP_SECRET, headers: dict[str, str] | None = None
) -> WebhookRequest:
    """Return a POST of `body` signed with `app_secret` as Meta sends it."""
    return webhook_request(
        body,
        url=URL,
        headers={"X-Hub-Signature-256": hub_signature(app_secret, body), **(headers or {})},
        content_type="application/json",
        received_at=RECEIVED,
    )


RECORDINGS = Recordings(FIXTURES, lambda _name, body: signed_request(body))
"""`fixtures/`: bodies as Meta sends them, posted signed with `APP_SECRET`."""
fixture = RECORDINGS.body


def whatsapp_body(*values: dict[str, Any], waba_id: str = "102290129340398") -> bytes:
    """Return a `whatsapp_business_account` webhook with one `messages` change per value."""
    changes = [
        {"value": {"messaging_product": "whatsapp", **value}, "field": "messages"}
        for value in values
    ]
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": waba_id, "changes": changes}]}
    ).encode()


BUSINESS_METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}


def whatsapp_value(
    *, messages: list[Any] | None = None, statuses: list[Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """Return a change `value` with our business number and the given events."""
    value: dict[str, Any] = {"metadata": BUSINESS_METADATA, **extra}
    if messages is not None:
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return value


def messaging_body(
    *events: dict[str, Any], object_name: str = "page", key: str = "messaging"
) -> bytes:
    """Return a Messenger (`page`) or Instagram webhook carrying `events` in one entry."""
    entry = {"id": "682498302938465", "time": 1518479195594, key: list(events)}
    return json.dumps({"object": object_name, "entry": [entry]}).encode()
