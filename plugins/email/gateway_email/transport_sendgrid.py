"""Replies through SendGrid's `POST /v3/mail/send` (JSON, `Authorization: Bearer`).

The body: `personalizations: [{to: [{email}], custom_args: {gateway_message_id}}]` (the reply's
`Message-ID`, which SendGrid's events then carry), `from` (`{email, name}`), `subject`,
`content` (`text/plain`, then `text/html`) and `headers` (`Message-ID`, `In-Reply-To`,
`References`). SendGrid answers 202 with no body; the provider message id is the reply's own
`Message-ID`, which SendGrid keeps and its events carry as `smtp-id`. Refusals:
`{"errors": [{"message", "field"}]}`; 400 and 413 are `Rejected`, 429 and 5xx `Retry`, 401 and
403 raise `AuthenticationError`.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import aiohttp

from gateway.plugin import Delivered, Outcome, ProviderAnswer
from gateway_email.provider_api import by_status, post_to_api
from gateway_email.reply import Reply
from gateway_email.send_settings import EmailSendSettings
from gateway_email.sendgrid_events import CUSTOM_ARG

__all__ = ["API_ROOT", "error_text", "send_sendgrid", "sendgrid_body"]

API_ROOT = "https://api.sendgrid.com"


def sendgrid_body(reply: Reply, send: EmailSendSettings) -> dict[str, Any]:
    """Return the `POST /v3/mail/send` body of `reply`."""
    name, address = parseaddr(send.from_)
    sender = {"email": address} | ({"name": name} if name else {})
    content = [{"type": "text/plain", "value": reply.text}]
    if reply.html is not None:
        content.append({"type": "text/html", "value": reply.html})
    return {
        "personalizations": [
            {"to": [{"email": reply.to}], "custom_args": {CUSTOM_ARG: reply.message_id}}
        ],
        "from": sender,
        "subject": reply.subject,
        "content": content,
        "headers": {"Message-ID": f"<{reply.message_id}>", **reply.threading},
    }


def error_text(answer: ProviderAnswer) -> str:
    """Return SendGrid's error messages (`errors[].message`, with their `field`), joined."""
    errors = answer.field("errors")
    texts = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict) and error.get("message"):
            where = f" ({error['field']})" if error.get("field") else ""
            texts.append(f"{error['message']}{where}")
    return "; ".join(texts)


async def send_sendgrid(
    http: aiohttp.ClientSession, reply: Reply, send: EmailSendSettings
) -> Outcome:
    """Send `reply` through SendGrid."""
    assert send.api_key is not None  # the settings require it for this transport
    key = send.api_key.get_secret_value()
    answer = await post_to_api(
        http,
        send,
        API_ROOT,
        "/v3/mail/send",
        provider="SendGrid",
        headers={"Authorization": f"Bearer {key}"},
        json=sendgrid_body(reply, send),
        secrets=[key],
    )
    if not isinstance(answer, ProviderAnswer):
        return answer
    if answer.status != 202:
        return by_status("SendGrid", answer, error_text(answer))
    return Delivered(provider_message_id=reply.message_id)
