"""Payloads in the generic channel's documented format, and the secret that signs them."""

from __future__ import annotations

from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The Standard Webhooks spec's own example secret."""


def message(external_id: str = "m-1", text: str = "My order has not arrived") -> dict[str, Any]:
    """Return a generic-channel message body in canonical field names."""
    return {
        "external_id": external_id,
        "occurred_at": "2026-11-22T10:00:00Z",
        "sender": {
            "display_name": "Jane Doe",
            "identities": [{"kind": "phone", "value": "+15551234567"}],
        },
        "content": {"text": text},
    }
