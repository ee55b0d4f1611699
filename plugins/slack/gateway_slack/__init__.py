"""gateway_slack: Slack's Events API as a Channel Gateway channel.

Type `slack`: requests are verified with the app's signing secret (`X-Slack-Signature`, v0),
`url_verification` is answered with its challenge, and message events become interactions.
"""

from __future__ import annotations

from gateway.plugin import ChannelRegistry, hookimpl
from gateway_slack.channel import SlackChannel
from gateway_slack.settings import SlackSettings
from gateway_slack.signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header,
    verify_signature,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SlackChannel",
    "SlackSettings",
    "gateway_register_channels",
    "signature_header",
    "verify_signature",
]


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `slack` channel."""
    registry.add(SlackChannel)
