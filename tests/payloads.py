"""Payloads in the generic channel's documented format, and the secrets that sign them."""

from __future__ import annotations

from typing import Any

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The Standard Webhooks spec's own example secret."""

HOOK_SECRET = "whsec_Z2F0ZXdheS10by1jcm0tc2lnbmluZy1r"
"""The secret the `webhook` backend signs with in tests (another one than the channel's)."""


def message(
    external_id: str = "m-1", text: str = "My order has not arrived", phone: str = "+15551234567"
) -> dict[str, Any]:
    """Return a generic-channel message body in canonical field names."""
    return {
        "external_id": external_id,
        "occurred_at": "2026-11-22T10:00:00Z",
        "sender": {"display_name": "Jane Doe", "identities": [{"kind": "phone", "value": phone}]},
        "content": {"text": text},
    }


def webhook_backend(url: str, **overrides: Any) -> dict[str, Any]:
    """Return a `webhook` backend block with test-sized timeouts, retries and circuit."""
    return {
        "type": "webhook",
        "url": url,
        "secret": HOOK_SECRET,
        "timeout": "1s",
        "retry": {"initial_backoff": "20ms", "max_backoff": "100ms", "max_attempts": 6},
        "circuit": {"failure_threshold": 50, "reset_timeout": "200ms"},
        **overrides,
    }
