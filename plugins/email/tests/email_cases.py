"""Recorded e-mail webhooks in the providers' documented formats, and their golden interactions.

`fixtures/NAME.multipart` is a multipart/form-data body byte for byte as SendGrid or Mailgun
posts it (its first line names the boundary), `NAME.form` a URL-encoded Mailgun post and
`NAME.json` a Postmark webhook; `NAME.golden.json` lists the interactions it must become
(regenerate with `python tests/golden.py`, then review the diff: the golden files are the spec).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from gateway_email import MailgunInboundChannel, PostmarkInboundChannel, SendGridInboundChannel
from gateway_email.auth import basic_auth_header

from gateway.plugin import Channel, WebhookRequest
from gateway.testing import ChannelCase, Recordings, webhook_request

FIXTURES = Path(__file__).parent / "fixtures"
USERNAME = "inbound-parse"
PASSWORD = "Zq8v2LxR7tNw4kPc9mHs"
BASIC = {"basic_auth": {"username": USERNAME, "password": PASSWORD}}
SIGNING_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
"""Shaped like a Mailgun HTTP webhook signing key; the `.multipart`/`.form` fixtures are signed
with it (timestamp 1795341600 = 2026-11-22T10:00:00Z)."""
OURS = "support@inbound.example.com"
SETTINGS: dict[str, dict[str, Any]] = {
    "sendgrid": {**BASIC, "inbound_addresses": [OURS]},
    "mailgun": {"signing_key": SIGNING_KEY, "inbound_addresses": [OURS]},
    "postmark": {**BASIC, "inbound_addresses": [OURS]},
}
RECEIVED = datetime(2026, 11, 22, 10, 0, 1, tzinfo=UTC)
URL = "https://gateway.example/webhooks/conformance"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
CHANNELS: dict[str, type[Channel[Any]]] = {
    "sendgrid": SendGridInboundChannel,
    "mailgun": MailgunInboundChannel,
    "postmark": PostmarkInboundChannel,
}
"""Which channel takes the fixtures named `PREFIX_...`."""


def mailgun_signature(timestamp: str, token: str, key: str = SIGNING_KEY) -> str:
    """Return `signature` as Mailgun's docs compute it, independently of the plugin."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


def authorization(username: str = USERNAME, password: str = PASSWORD) -> dict[str, str]:
    """Return the `Authorization` header a webhook URL with these credentials makes."""
    return {"Authorization": basic_auth_header(username, password)}


def content_type(name: str, body: bytes) -> str:
    """Return the Content-Type the provider sends with fixture `name`."""
    if name.endswith(".multipart"):
        return "multipart/form-data; boundary=" + boundary(body)
    return FORM if name.endswith(".form") else JSON


def boundary(body: bytes) -> str:
    """Return the boundary of a multipart body: its first line, without the leading `--`."""
    return body.split(b"\r\n", 1)[0].removeprefix(b"--").decode()


def fixture(name: str) -> bytes:
    """Return the body of fixture `name` (with its suffix), exactly as stored."""
    return (FIXTURES / name).read_bytes()


def request(name: str, body: bytes | None = None, **headers: str) -> WebhookRequest:
    """Return fixture `name` (or `body` in its format) posted as its provider posts it."""
    data = fixture(name) if body is None else body
    sent = {**authorization(), **headers} if not name.startswith("mailgun") else headers
    return webhook_request(
        data, url=URL, headers=sent, content_type=content_type(name, data), received_at=RECEIVED
    )


RECORDINGS = Recordings(FIXTURES, request)
"""`fixtures/`: bodies as the providers post them, with their credentials or signatures."""


def suffix(recorded: ChannelCase) -> str:
    """Return the format of a recorded case: `.multipart`, `.form` or `.json`."""
    return RECORDINGS.file(recorded.name).suffix


def repost(recorded: ChannelCase, body: bytes, **headers: str) -> WebhookRequest:
    """Return the recorded case's request with another body in its format (and `headers`)."""
    return request(RECORDINGS.file(recorded.name).name, body, **headers)


def parts(body: bytes) -> list[bytes]:
    """Return the parts of a multipart body (each its headers, a blank line and its content)."""
    marker = b"--" + boundary(body).encode()
    return [part.strip(b"\r\n") for part in body.split(marker)[1:-1]]


def assemble(sections: list[bytes], marker: str) -> bytes:
    """Return a multipart body of `sections` (as `parts` returns them) with boundary `marker`."""
    dashed = f"--{marker}".encode()
    return b"".join(dashed + b"\r\n" + s + b"\r\n" for s in sections) + dashed + b"--\r\n"


def with_field(body: bytes, name: str, value: bytes) -> bytes:
    """Return a multipart body with the content of field `name` replaced by `value`."""
    header = f'Content-Disposition: form-data; name="{name}"'.encode()
    sections = [
        section.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + value
        if section.split(b"\r\n", 1)[0] == header
        else section
        for section in parts(body)
    ]
    return assemble(sections, boundary(body))


def postmark_body(
    message_id: str,
    subject: str,
    *,
    sender: str = "ana@example.com",
    name: str = "Ana Ruiz",
    references: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """Return a Postmark inbound webhook for a message, in the recorded fixture's shape."""
    document = json.loads(fixture("postmark_reply.json"))
    listed = {"Message-ID": f"<{message_id}>", **({"References": references} if references else {})}
    if references:
        listed["In-Reply-To"] = references.split()[-1]
    document.update(
        From=sender,
        FromName=name,
        FromFull={"Email": sender, "Name": name, "MailboxHash": ""},
        Subject=subject,
        MessageID=message_id.partition("@")[0],
        Date="Sun, 22 Nov 2026 11:00:00 +0100",
        Headers=[{"Name": k, "Value": v} for k, v in {**listed, **(headers or {})}.items()],
    )
    return json.dumps(document).encode()


def mailgun_form(
    fields: Mapping[str, str | bytes],
    *,
    token: str,
    timestamp: str = "1795341600",
    key: str = SIGNING_KEY,
) -> bytes:
    """Return a URL-encoded Mailgun post of `fields`, signed with `key`."""
    signed = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(timestamp, token, key),
    }
    return urlencode({**fields, **signed}).encode()


GENERIC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"""The Standard Webhooks spec's example secret, for a `generic` channel reporting SMS."""


def sms_message(phone: str = "+15551234567") -> dict[str, Any]:
    """Return a generic-channel SMS from the customer, just before the e-mails."""
    return {
        "external_id": "sms-1",
        "occurred_at": "2026-11-22T09:50:00Z",
        "sender": {"display_name": "Ana Ruiz", "identities": [{"kind": "phone", "value": phone}]},
        "content": {"text": "My order has not arrived"},
    }
