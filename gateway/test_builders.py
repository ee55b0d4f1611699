"""Requests and channels for tests, built the way the gateway builds them (via gateway.testing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from ulid import ULID

from gateway import standard_webhooks
from gateway.channel import Channel, ChannelContext, utc_now
from gateway.request import WebhookRequest
from gateway.schema import Interaction

__all__ = [
    "CUSTOMER_EMAIL",
    "CUSTOMER_PHONE",
    "claimed_chat",
    "customer_interactions",
    "make_channel",
    "make_interaction",
    "run_channel",
    "standard_webhook_headers",
    "webhook_request",
]

CUSTOMER_PHONE = "+15551230001"
CUSTOMER_EMAIL = "jane.doe@example.com"
_SOME_TIME = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def standard_webhook_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Return `webhook-id`/`-timestamp`/`-signature` headers signing `body` with `secret`."""
    return standard_webhooks.signature_headers(
        [standard_webhooks.decode_secret(secret)],
        msg_id or f"msg_{ULID()}",
        int(time.time()) if timestamp is None else timestamp,
        body,
    )


def webhook_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    url: str = "https://gateway.example/webhooks/test",
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    received_at: datetime | None = None,
) -> WebhookRequest:
    """Build the `WebhookRequest` a channel would get for this HTTP request."""
    raw = body.encode() if isinstance(body, str) else body
    header_map = CIMultiDict(headers or {})
    if content_type:
        header_map["Content-Type"] = content_type
    media_type = header_map.get("Content-Type", "").partition(";")[0].strip().lower()
    form = None
    if media_type == "application/x-www-form-urlencoded":
        form = MultiDictProxy(MultiDict(parse_qsl(raw.decode(), keep_blank_values=True)))
    return WebhookRequest(
        method=method,
        url=url,
        headers=CIMultiDictProxy(header_map),
        query=MultiDictProxy(MultiDict(parse_qsl(urlsplit(url).query, keep_blank_values=True))),
        body=raw,
        received_at=received_at or utc_now(),
        form=form,
    )


def make_channel(
    channel_type: type[Channel[Any]],
    settings: Mapping[str, Any],
    *,
    channel_id: str = "test",
    clock: Callable[[], datetime] = utc_now,
    default_region: str = "US",
) -> Channel[Any]:
    """Instantiate a channel from a settings mapping (`type` is filled in)."""
    validated = channel_type.settings_model.model_validate(
        {"type": channel_type.type_name, **settings}
    )
    context = ChannelContext(channel_id, clock, default_region=default_region)
    return channel_type(context, validated)


def run_channel(channel: Channel[Any], req: WebhookRequest) -> list[Interaction]:
    """Verify then parse `req` the way the gateway does, with no server."""
    if not channel.settings.insecure:
        channel.verify(req)
    return channel.parse(req)


def make_interaction(**fields: Any) -> Interaction:
    """Build a valid interaction: an inbound webchat message "hello" unless `fields` say otherwise.

    `fields` are the interaction's own (models or plain mappings); `external_id` defaults to a
    fresh one, `received_at` to `occurred_at`.
    """
    document: dict[str, Any] = {
        "type": "message",
        "direction": "inbound",
        "channel": {"id": "web", "kind": "webchat", "provider": "generic"},
        "external_id": f"evt_{ULID()}",
        "occurred_at": _SOME_TIME,
        "content": {"text": "hello"},
        **fields,
    }
    document.setdefault("received_at", document["occurred_at"])
    return Interaction.model_validate(document)


def customer_interactions(
    customer_id: str = "cus_01KAXZ0000000000000000CVST",
    conversation_id: str = "conv_01KAXZ0000000000000000C0NV",
) -> list[Interaction]:
    """Return one customer's SMS message, phone call (with duration and recording) and e-mail
    (with a subject), in order, in one conversation: what a CRM backend must record."""
    phone = {"identities": [{"kind": "phone", "value": CUSTOMER_PHONE}], "display_name": "Jane"}
    email = {"identities": [{"kind": "email", "value": CUSTOMER_EMAIL}], "display_name": "Jane"}
    ours = {"identities": [{"kind": "phone", "value": "+15557654321"}]}
    same = {"customer_id": customer_id, "conversation_id": conversation_id}
    return [
        make_interaction(
            channel={"id": "support-sms", "kind": "sms", "provider": "twilio"},
            external_id="SM0000000000000000000000000000c0f1",
            sender=phone,
            recipient=ours,
            content={"text": "Hi, my order 1042 has not arrived yet."},
            **same,
        ),
        make_interaction(
            type="call",
            channel={"id": "support-voice", "kind": "voice", "provider": "twilio"},
            external_id="CA0000000000000000000000000000c0f2",
            occurred_at=_SOME_TIME + timedelta(minutes=5),
            sender=phone,
            recipient=ours,
            content=None,
            call={
                "status": "completed",
                "duration_s": 184,
                "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE0",
            },
            **same,
        ),
        make_interaction(
            channel={"id": "support-email", "kind": "email", "provider": "sendgrid"},
            external_id="<c0f3.jane@example.com>",
            occurred_at=_SOME_TIME + timedelta(minutes=30),
            sender=email,
            recipient={"identities": [{"kind": "email", "value": "support@example.net"}]},
            content={
                "subject": "Order 1042",
                "text": "As promised on the phone, the order confirmation is below.",
            },
            **same,
        ),
    ]


def claimed_chat(
    customer_id: str = "cus_01KAXZ0000000000000000CVST",
    conversation_id: str = "conv_01KAXZ0000000000000000C0NV",
) -> Interaction:
    """Return a web-chat form a stranger filled in with his name and phone and the customer's
    e-mail address, none of them verified, as the gateway stores it: attached to the customer
    as a claim (`context.identity_claimed`). A CRM backend must mark it and change no record of
    the customer with it (identity trust)."""
    return make_interaction(
        channel={"id": "web-form", "kind": "webchat", "provider": "generic"},
        external_id="chat-1",
        customer_id=customer_id,
        conversation_id=conversation_id,
        context={
            "conversation_channels": ["webchat"],
            "conversation_size": 1,
            "repeat_contact": False,
            "identity_claimed": True,
        },
        sender={
            "display_name": "Max Stranger",
            "identities": [
                {"kind": "phone", "value": "+15550000002", "verified": False},
                {"kind": "email", "value": CUSTOMER_EMAIL, "verified": False},
            ],
        },
        content={"text": "Send my order to a new address"},
    )
