"""Recorded Twilio webhooks (tests/fixtures), signed by the official SDK as Twilio signs them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from multidict import MultiDict
from twilio.request_validator import RequestValidator

from gateway.plugin import WebhookRequest
from gateway.testing import Recordings, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = "3f9c2a7e5b1d4c8e9a0b6f2d7c3e1a5b"
"""A made-up Auth Token (32 hex characters, like a real one)."""
OTHER_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
URL = "https://gateway.example/webhooks/conformance"
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, 250000, tzinfo=UTC)
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
OUR_NUMBER = "+14155550100"
CUSTOMER = "+14155550123"
WHATSAPP_SENDER = "+14155238886"


def fixture(name: str) -> bytes:
    """Return the form body recorded in `tests/fixtures/{name}.txt` (without its final newline)."""
    return RECORDINGS.body(name).strip()


def pairs(body: bytes) -> MultiDict[str]:
    """Return a form body's parameters, repeated names included."""
    return MultiDict(parse_qsl(body.decode(), keep_blank_values=True))


def sdk_signature(url: str, params: MultiDict[str] | dict[str, str], token: str = TOKEN) -> str:
    """Return the `X-Twilio-Signature` the official SDK computes."""
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def signed_form(
    body: bytes, *, url: str = URL, token: str = TOKEN, received_at: datetime = RECEIVED
) -> WebhookRequest:
    """Return a form-encoded webhook to `url`, signed with `token` by the SDK."""
    headers = {"X-Twilio-Signature": sdk_signature(url, pairs(body), token)}
    return webhook_request(
        body, url=url, headers=headers, content_type=FORM, received_at=received_at
    )


def json_url(url: str, body: bytes) -> str:
    """Return `url` with the `bodySHA256` query parameter Twilio adds to JSON webhooks."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}bodySHA256={hashlib.sha256(body).hexdigest()}"


def signed_json(body: bytes, *, url: str = URL, token: str = TOKEN) -> WebhookRequest:
    """Return a JSON webhook (`bodySHA256` in its URL), signed with `token` by the SDK."""
    full_url = json_url(url, body)
    headers = {"X-Twilio-Signature": sdk_signature(full_url, {}, token)}
    return webhook_request(
        body, url=full_url, headers=headers, content_type=JSON, received_at=RECEIVED
    )


def as_json(body: bytes) -> bytes:
    """Return a recorded form body as the flat JSON object of a JSON webhook."""
    return json.dumps(dict(parse_qsl(body.decode(), keep_blank_values=True))).encode()


RECORDINGS = Recordings(FIXTURES, lambda _file, body: signed_form(body.strip()))
"""Twilio's recorded webhooks (`NAME.txt`, one form body each), signed by the SDK when posted."""
