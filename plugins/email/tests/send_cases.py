"""What the sender's tests share: an outbound reply, the sender built on its settings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from gateway_email.send_settings import EmailSendSettings
from gateway_email.sender import EmailSender

from gateway.plugin import BackendContext, Delivery, Outcome
from gateway.schema import Interaction

FROM = "Acme Support <support@acme.example>"
CUSTOMER = "ana@example.com"
ANSWERED = "CAF8ZkQ9=3d@mail.gmail.com"
"""The `Message-ID` of `fixtures/postmark_reply.json`, the e-mail the replies answer."""
ROOT = "CAF8ZkQ1=root@mail.gmail.com"
"""The first id of that e-mail's `References`: its thread."""
INTERACTION_ID = "01JDQ4K6Z8W5N7T0M3F2V9X1AB"
FAST = {"timeout": "2s", "retry": {"initial_backoff": "10ms", "max_backoff": "50ms"}}


def outbound(**fields: Any) -> Delivery:
    """Return the delivery of a reply to Ana's e-mail (`fields` override the interaction's)."""
    now = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
    interaction = Interaction.model_validate(
        {
            "id": INTERACTION_ID,
            "type": "message",
            "direction": "outbound",
            "channel": {"id": "support-mail", "kind": "email", "provider": "postmark"},
            "external_id": "key-1",
            "thread_external_id": ROOT,
            "occurred_at": now,
            "received_at": now,
            "recipient": {"identities": [{"kind": "email", "value": CUSTOMER}]},
            "content": {"text": "It ships today.", "subject": "Re: Ticket 1042"},
            "metadata": {"reply_to": ANSWERED},
        }
        | fields
    )
    return Delivery(id=1, interaction=interaction, attempt=1)


def settings(**send: Any) -> EmailSendSettings:
    """Return a `send:` block of `send` with `from` and a short timeout."""
    return EmailSendSettings.model_validate({"from": FROM, "timeout": "2s"} | send)


async def deliver(send: EmailSendSettings, *deliveries: Delivery) -> Sequence[Outcome]:
    """Return what the sender makes of `deliveries` (default: one `outbound()`)."""
    async with aiohttp.ClientSession() as http:
        sender = EmailSender(BackendContext(name="channel:support-mail", http=http), send)
        return await sender.deliver(list(deliveries) or [outbound()])
