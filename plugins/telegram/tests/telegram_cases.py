"""Recorded Telegram Updates, sent the way Telegram sends them, and their golden interactions.

`fixtures/NAME.json` is one Update in the Bot API's documented format, byte for byte what the tests
post; `fixtures/NAME.golden.json` lists the canonical interactions it must become (regenerate with
`python tests/golden.py`, then review the diff: the golden files are the spec).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.plugin import WebhookRequest
from gateway.testing import Recordings, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
SECRET_TOKEN = "tg-Webhook_Secret_4f9Kx2QpL7"
"""Shaped like a `setWebhook` secret_token: `A-Z a-z 0-9 _ -`."""
ROTATED_TOKEN = "tg-Next_Secret_8Zm1Wq"
SETTINGS = {"secret_token": SECRET_TOKEN}
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
URL = "https://gateway.example/webhooks/conformance"
HEADER = "X-Telegram-Bot-Api-Secret-Token"


def telegram_request(body: bytes, *, token: str | None = SECRET_TOKEN) -> WebhookRequest:
    """Return a POST of `body` as Telegram sends it: JSON, with the secret token (if any)."""
    return webhook_request(
        body,
        url=URL,
        headers={HEADER: token} if token is not None else {},
        content_type="application/json",
        received_at=RECEIVED,
    )


RECORDINGS = Recordings(FIXTURES, lambda _name, body: telegram_request(body))
"""`fixtures/`: Updates as Telegram sends them, posted with `SECRET_TOKEN`."""
fixture = RECORDINGS.body
