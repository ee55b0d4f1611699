"""gateway_twilio: Twilio SMS/MMS, WhatsApp and Voice webhooks as Channel Gateway channels.

Installed next to the gateway, it registers the channel types `twilio-sms`, `twilio-whatsapp`
and `twilio-voice` through the `gateway.plugins` entry point, like any third-party plugin.
"""

from __future__ import annotations

from gateway.plugin import ChannelRegistry, hookimpl
from gateway_twilio.channels import (
    TwilioChannel,
    TwilioSmsChannel,
    TwilioVoiceChannel,
    TwilioWhatsAppChannel,
)
from gateway_twilio.settings import TwilioSettings, TwilioVoiceSettings

__all__ = [
    "TwilioChannel",
    "TwilioSettings",
    "TwilioSmsChannel",
    "TwilioVoiceChannel",
    "TwilioVoiceSettings",
    "TwilioWhatsAppChannel",
    "gateway_register_channels",
]


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `twilio-sms`, `twilio-whatsapp` and `twilio-voice` channels."""
    registry.add(TwilioSmsChannel)
    registry.add(TwilioWhatsAppChannel)
    registry.add(TwilioVoiceChannel)
