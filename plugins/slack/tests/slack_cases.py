"""Recorded Slack Events API requests, signed the way Slack signs them, and their golden output.

`fixtures/NAME.json` is a body in Slack's documented format (compact JSON with escaped slashes,
as Slack sends it), byte for byte what the tests post; `fixtures/NAME.golden.json` lists the
interactions it must become (regenerate with `python tests/golden.py`, then review the diff).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

from gateway.plugin import WebhookRequest
from gateway.testing import Recordings, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
"""The example signing secret of Slack's "Verifying requests from Slack" guide."""
SETTINGS = {"signing_secret": SIGNING_SECRET}
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
URL = "https://gateway.example/webhooks/conformance"
TEAM = "T024BE7LD"


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return `X-Slack-Signature` as Slack's guide computes it, independently of the plugin."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_headers(body: bytes, timestamp: int, *, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Return the headers Slack sends with `body` at `timestamp` (Unix seconds)."""
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": slack_signature(secret, str(timestamp), body),
    }


def signed_request(body: bytes, *, secret: str = SIGNING_SECRET) -> WebhookRequest:
    """Return a POST of `body` signed with `secret` at `RECEIVED`, as Slack sends it."""
    return webhook_request(
        body,
        url=URL,
        headers=slack_headers(body, int(RECEIVED.timestamp()), secret=secret),
        content_type="application/json",
        received_at=RECEIVED,
    )


RECORDINGS = Recordings(FIXTURES, lambda _name, body: signed_request(body))
"""`fixtures/`: event payloads as Slack sends them, posted signed with `SIGNING_SECRET`."""
fixture = RECORDINGS.body
