"""Recorded Telegram Updates, sent the way Telegram sends them, and their golden interactions.

`fixtures/NAME.json` is one Update in the Bot API's documented format, byte for byte what the tests
post; `fixtures/NAME.golden.json` lists the canonical interactions it must become (regenerate with
`python tests/golden.py`, then review the diff: the golden files are the spec).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from gateway.plugin import WebhookRequest
from gateway.testing import ChannelCase, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
SECRET_TOKEN = "tg-Webhook_Secret_4f9Kx2QpL7"
"""Shaped like a `setWebhook` secret_token: `A-Z a-z 0-9 _ -`."""
ROTATED_TOKEN = "tg-Next_Secret_8Zm1Wq"
SETTINGS = {"secret_token": SECRET_TOKEN}
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
URL = "https://gateway.example/webhooks/conformance"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def fixture(name: str) -> bytes:
    """Return the body of fixture `name`, exactly as stored."""
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_names() -> list[str]:
    """Return the names of every recorded Update."""
    return sorted(
        path.name.removesuffix(".json")
        for path in FIXTURES.glob("*.json")
        if not path.name.endswith(".golden.json")
    )


def telegram_request(body: bytes, *, token: str | None = SECRET_TOKEN) -> WebhookRequest:
    """Return a POST of `body` as Telegram sends it: JSON, with the secret token (if any)."""
    return webhook_request(
        body,
        url=URL,
        headers={HEADER: token} if token is not None else {},
        content_type="application/json",
        received_at=RECEIVED,
    )


def golden_path(name: str) -> Path:
    """Return where the golden interactions of fixture `name` are kept."""
    return FIXTURES / f"{name}.golden.json"


def case(name: str) -> ChannelCase:
    """Return fixture `name` as Telegram sends it, with its golden interactions."""
    expected = json.loads(golden_path(name).read_text(encoding="utf-8"))
    return ChannelCase(name, telegram_request(fixture(name)), expected)
