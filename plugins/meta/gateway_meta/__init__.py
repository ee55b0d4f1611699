"""gateway_meta: Meta's webhooks as Channel Gateway channels.

`whatsapp-cloud` (WhatsApp Business Platform Cloud API), `messenger` (Messenger Platform) and
`instagram` (Instagram Messaging) share one verification scheme: the `hub.challenge` handshake
and `X-Hub-Signature-256`, an HMAC-SHA256 of the raw body keyed with the app secret.
"""

from __future__ import annotations

from gateway.plugin import ChannelRegistry, hookimpl
from gateway_meta.channel import MetaChannel
from gateway_meta.messaging import InstagramChannel, MessagingChannel, MessengerChannel
from gateway_meta.settings import MetaSettings
from gateway_meta.signature import SIGNATURE_HEADER, signature_header, verify_signature
from gateway_meta.whatsapp import WhatsAppCloudChannel

__all__ = [
    "SIGNATURE_HEADER",
    "InstagramChannel",
    "MessagingChannel",
    "MessengerChannel",
    "MetaChannel",
    "MetaSettings",
    "WhatsAppCloudChannel",
    "gateway_register_channels",
    "signature_header",
    "verify_signature",
]


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `whatsapp-cloud`, `messenger` and `instagram` channels."""
    registry.add(WhatsAppCloudChannel)
    registry.add(MessengerChannel)
    registry.add(InstagramChannel)
