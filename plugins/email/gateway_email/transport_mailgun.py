"""Replies through Mailgun's `POST /v3/{domain}/messages` (form fields, HTTP Basic `api:KEY`).

The fields: `from`, `to`, `subject`, `text`, `html`, and the threading headers as `h:Message-Id`,
`h:In-Reply-To`, `h:References`. The answer's `id` (`<...@domain>`) without its `<>` is the
provider message id (Mailgun's events name the message that way). Refusals are
`{"message": ...}`: 400 is `Rejected`, 429 and 5xx `Retry`, 401 and 403 raise
`AuthenticationError`.
"""

from __future__ import annotations

import base64

import aiohttp

from gateway.plugin import Delivered, Outcome, ProviderAnswer
from gateway_email.provider_api import by_status, post_to_api
from gateway_email.reply import Reply
from gateway_email.send_settings import EmailSendSettings

__all__ = ["API_ROOT", "mailgun_form", "send_mailgun"]

API_ROOT = "https://api.mailgun.net"


def mailgun_form(reply: Reply, send: EmailSendSettings) -> dict[str, str]:
    """Return the form fields of `reply`."""
    form = {
        "from": send.from_,
        "to": reply.to,
        "subject": reply.subject,
        "text": reply.text,
        "h:Message-Id": f"<{reply.message_id}>",
    }
    form |= {f"h:{name}": value for name, value in reply.threading.items()}
    if reply.html is not None:
        form["html"] = reply.html
    return form


async def send_mailgun(
    http: aiohttp.ClientSession, reply: Reply, send: EmailSendSettings
) -> Outcome:
    """Send `reply` through Mailgun."""
    assert send.api_key is not None  # the settings require it for this transport
    key = send.api_key.get_secret_value()
    basic = base64.b64encode(f"api:{key}".encode()).decode()
    answer = await post_to_api(
        http,
        send,
        API_ROOT,
        f"/v3/{send.domain}/messages",
        provider="Mailgun",
        headers={"Authorization": f"Basic {basic}"},
        form=mailgun_form(reply, send),
        secrets=[key, basic],
    )
    if not isinstance(answer, ProviderAnswer):
        return answer
    if answer.status != 200:
        message = answer.field("message")
        return by_status("Mailgun", answer, message if isinstance(message, str) else "")
    sent_id = answer.field("id")
    if not isinstance(sent_id, str) or not sent_id.strip("<> "):
        return send.unknown_outcome("Mailgun answered 200 without a message id")
    return Delivered(provider_message_id=sent_id.strip("<> "))
