"""HTTP Basic credentials, as SendGrid and Postmark send them from the webhook URL, checked in
constant time."""

from __future__ import annotations

import base64
import binascii
import hmac

from gateway.errors import SignatureError
from gateway.plugin import WebhookRequest
from gateway_email.settings import BasicAuth

__all__ = ["basic_auth_header", "check_basic_auth"]


def basic_auth_header(username: str, password: str) -> str:
    """Return the `Authorization` value a client sends for `username` and `password`."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def check_basic_auth(req: WebhookRequest, credentials: BasicAuth) -> None:
    """Raise `SignatureError` unless `req` carries `credentials` as `Authorization: Basic`.

    The whole `user:password` is compared at once with `hmac.compare_digest`, so the time taken
    says nothing about which part, or how much of it, was right.
    """
    offered = req.headers.get("Authorization")
    if not offered:
        raise SignatureError(
            "missing Authorization header: put the credentials in the webhook URL "
            "(https://USER:PASSWORD@gw.example.com/webhooks/CHANNEL)"
        )
    scheme, _, token = offered.strip().partition(" ")
    if scheme.lower() != "basic":
        raise SignatureError("expected Authorization: Basic credentials")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("Authorization: Basic credentials are not base64") from None
    user = credentials.username.get_secret_value()
    expected = f"{user}:{credentials.password.get_secret_value()}".encode()
    if not hmac.compare_digest(decoded, expected):
        raise SignatureError("Basic auth credentials do not match basic_auth")
