"""Meta's verification request: `GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`.

Meta sends it when the callback URL is saved in the app dashboard, and expects the challenge back
as the body of a 200; anything else makes the dashboard refuse the URL.
"""

from __future__ import annotations

import hmac

from pydantic import SecretStr

from gateway.plugin import WebhookRequest, WebhookResponse

__all__ = ["answer_verification"]

_HUB_KEYS = ("hub.mode", "hub.verify_token", "hub.challenge")


def answer_verification(req: WebhookRequest, token: SecretStr | None) -> WebhookResponse | None:
    """Return the answer to a verification request, or None if `req` is not one.

    The token is compared in constant time; a wrong one (or none configured) is a 403.
    """
    if req.method != "GET" or not any(key in req.query for key in _HUB_KEYS):
        return None
    expected = token.get_secret_value().encode() if token else b""
    offered = req.query.get("hub.verify_token", "").encode("utf-8", "replace")
    matches = hmac.compare_digest(offered, expected) and bool(expected)
    if req.query.get("hub.mode") != "subscribe":
        return _refuse(400, "bad_request", "hub.mode must be 'subscribe'")
    if not matches:
        return _refuse(403, "bad_verify_token", "hub.verify_token does not match verify_token")
    challenge = req.query.get("hub.challenge", "")
    if not challenge:
        return _refuse(400, "bad_request", "hub.challenge is missing")
    return WebhookResponse.text(challenge)


def _refuse(status: int, code: str, message: str) -> WebhookResponse:
    return WebhookResponse.json({"error": {"code": code, "message": message}}, status=status)
