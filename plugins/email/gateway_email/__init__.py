"""gateway_email: inbound e-mail through SendGrid, Mailgun and Postmark as Channel Gateway channels.

Installed next to the gateway, it registers the channel types `sendgrid-inbound`,
`mailgun-inbound` and `postmark-inbound` through the `gateway.plugins` entry point.
"""

from __future__ import annotations

from gateway.plugin import ChannelRegistry, hookimpl
from gateway_email.channels import (
    EmailChannel,
    MailgunInboundChannel,
    PostmarkInboundChannel,
    SendGridInboundChannel,
)
from gateway_email.settings import (
    BasicAuth,
    BasicAuthSettings,
    EmailSettings,
    MailgunSettings,
    SendGridSettings,
)

__all__ = [
    "BasicAuth",
    "BasicAuthSettings",
    "EmailChannel",
    "EmailSettings",
    "MailgunInboundChannel",
    "MailgunSettings",
    "PostmarkInboundChannel",
    "SendGridInboundChannel",
    "SendGridSettings",
    "gateway_register_channels",
]


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `sendgrid-inbound`, `mailgun-inbound` and `postmark-inbound` channels."""
    registry.add(SendGridInboundChannel)
    registry.add(MailgunInboundChannel)
    registry.add(PostmarkInboundChannel)
