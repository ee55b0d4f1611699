"""The e-mail sender: one reply per outbound interaction, through the channel's `transport`.

The reply is built once (`gateway_email.reply`) and handed to the transport's module:
`transport_smtp`, `transport_postmark`, `transport_sendgrid` or `transport_mailgun`. None of
them has an idempotency key, so a send cut off after the request (or `DATA`) was written has an
unknown outcome: parked with `outcome_unknown` unless `send.on_unknown_outcome: resend` (then
the same message, with the same `Message-ID`, goes again).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import ClassVar

from gateway.plugin import Backend, Delivery, Outcome, Rejected
from gateway_email.reply import build_reply
from gateway_email.send_settings import EmailSendSettings
from gateway_email.transport_mailgun import send_mailgun
from gateway_email.transport_postmark import send_postmark
from gateway_email.transport_sendgrid import send_sendgrid
from gateway_email.transport_smtp import send_smtp, tls_context

__all__ = ["EmailSender"]


class EmailSender(Backend[EmailSendSettings]):
    """Sends each outbound interaction as an e-mail reply."""

    type_name = "email-sender"
    settings_model: ClassVar[type[EmailSendSettings]] = EmailSendSettings

    @cached_property
    def _tls_context(self) -> ssl.SSLContext | None:
        return tls_context(self.settings)

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send the reply of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    async def _send(self, delivery: Delivery) -> Outcome:
        send = self.settings
        reply = build_reply(delivery, send, datetime.now(UTC))
        if isinstance(reply, Rejected):
            return reply
        if send.transport == "smtp":
            return await send_smtp(reply, send, self._tls_context)
        transport = {
            "postmark": send_postmark,
            "sendgrid": send_sendgrid,
            "mailgun": send_mailgun,
        }[send.transport]
        return await transport(self.ctx.http, reply, send)
