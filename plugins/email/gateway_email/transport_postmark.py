"""Replies through Postmark's `POST /email` (JSON, `X-Postmark-Server-Token`).

The body: `From`, `To`, `Subject`, `TextBody`, `HtmlBody`, `Headers` (`Message-ID`,
`In-Reply-To`, `References` as `{Name, Value}`) and `MessageStream`. The answer's `MessageID`
(a UUID) is the provider message id the Delivery and Bounce webhooks name. Refusals carry
`ErrorCode`: 300 (invalid request: a bad address, no body) and 406 (inactive recipient: a hard
bounce, a spam complaint or a suppression) are `Rejected`, 429 is `Retry`, 10 (bad or missing
token) raises `AuthenticationError`; other codes fall back to the HTTP status.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.errors import AuthenticationError
from gateway.plugin import Delivered, Outcome, ProviderAnswer, Rejected, Retry
from gateway_email.provider_api import by_status, post_to_api
from gateway_email.reply import Reply
from gateway_email.send_settings import EmailSendSettings

__all__ = ["API_ROOT", "ERROR_CODES", "classify_postmark", "postmark_body", "send_postmark"]

API_ROOT = "https://api.postmarkapp.com"
ERROR_CODES = {
    300: "invalid e-mail request (a bad address, no body, too many recipients)",
    406: "inactive recipient: Postmark suppresses this address (a hard bounce, a spam"
    " complaint or an unsubscribe); reactivate it in Postmark to send again",
    400: "the From address has no Postmark sender signature",
    401: "the From address's sender signature is not confirmed",
}
"""Postmark `ErrorCode`s that refuse a reply for good, and what they mean."""


def postmark_body(reply: Reply, send: EmailSendSettings) -> dict[str, Any]:
    """Return the `POST /email` body of `reply`."""
    headers = {"Message-ID": f"<{reply.message_id}>", **reply.threading}
    body: dict[str, Any] = {
        "From": send.from_,
        "To": reply.to,
        "Subject": reply.subject,
        "TextBody": reply.text,
        "Headers": [{"Name": name, "Value": value} for name, value in headers.items()],
        "MessageStream": send.message_stream,
    }
    if reply.html is not None:
        body["HtmlBody"] = reply.html
    return body


def classify_postmark(answer: ProviderAnswer) -> Retry | Rejected:
    """Return the outcome of a refused `POST /email`."""
    code, text = answer.field("ErrorCode"), answer.field("Message")
    detail = f"ErrorCode {code}: {text}" if code is not None else str(text or "")
    if answer.status >= 500:
        return by_status("Postmark", answer, detail)
    if code == 10:
        raise AuthenticationError(f"Postmark refused the server token ({detail})"[:500])
    if code == 429:
        return Retry(f"Postmark rate limit ({detail})"[:500], after_s=answer.retry_after)
    if isinstance(code, int) and code in ERROR_CODES:
        return Rejected(f"{ERROR_CODES[code]} (Postmark {detail})"[:500])
    return by_status("Postmark", answer, detail)


async def send_postmark(
    http: aiohttp.ClientSession, reply: Reply, send: EmailSendSettings
) -> Outcome:
    """Send `reply` through Postmark."""
    assert send.server_token is not None  # the settings require it for this transport
    token = send.server_token.get_secret_value()
    answer = await post_to_api(
        http,
        send,
        API_ROOT,
        "/email",
        provider="Postmark",
        headers={"Accept": "application/json", "X-Postmark-Server-Token": token},
        json=postmark_body(reply, send),
        secrets=[token],
    )
    if not isinstance(answer, ProviderAnswer):
        return answer
    if answer.status != 200 or answer.field("ErrorCode") not in (0, None):
        return classify_postmark(answer)
    message_id = answer.field("MessageID")
    if not isinstance(message_id, str) or not message_id:
        return send.unknown_outcome("Postmark answered 200 without a MessageID")
    return Delivered(provider_message_id=message_id)
