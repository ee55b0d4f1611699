"""The `generic` channel passes the conformance suite every channel plugin runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from gateway.builtins.generic import GenericChannel
from gateway.testing import (
    ChannelCase,
    ChannelConformance,
    standard_webhook_headers,
    webhook_request,
)
from tests.payloads import SECRET

RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)


def signed(payload: object, msg_id: str) -> ChannelCase:
    body = orjson.dumps(payload)
    headers = standard_webhook_headers(
        SECRET, body, msg_id=msg_id, timestamp=int(RECEIVED.timestamp())
    )
    request = webhook_request(
        body,
        url="https://gateway.example/webhooks/conformance",
        headers=headers,
        content_type="application/json",
        received_at=RECEIVED,
    )
    return ChannelCase(msg_id, request, [])


class TestGenericConformance(ChannelConformance):
    channel_type = GenericChannel
    settings: ClassVar[Mapping[str, Any]] = {"secret": SECRET, "kind": "sms"}
    secret_fields = ("secret",)
    signature_headers = ("webhook-signature",)

    def cases(self) -> Sequence[ChannelCase]:
        message = signed(
            {
                "external_id": "m-1",
                "occurred_at": "2026-11-22T11:00:00+01:00",
                "sender": {
                    "display_name": "Jane Doe",
                    "identities": [{"kind": "phone", "value": "(555) 123-4567"}],
                },
                "content": {"text": "My order has not arrived"},
            },
            "msg_1",
        )
        expected: dict[str, Any] = {
            "schema": "interaction/v1",
            "type": "message",
            "direction": "inbound",
            "channel": {"id": "conformance", "kind": "sms", "provider": "generic"},
            "external_id": "m-1",
            "thread_external_id": None,
            "occurred_at": "2026-11-22T10:00:00Z",
            "received_at": "2026-11-22T10:00:01Z",
            "sender": {
                "display_name": "Jane Doe",
                "identities": [{"kind": "phone", "value": "+15551234567", "verified": True}],
            },
            "recipient": {"display_name": None, "identities": []},
            "content": {
                "text": "My order has not arrived",
                "subject": None,
                "html": None,
                "attachments": [],
            },
            "call": None,
            "status": None,
            "customer_id": None,
            "conversation_id": None,
            "context": None,
            "metadata": {},
            "raw": None,
        }
        return [ChannelCase(message.name, message.request, [expected])]
