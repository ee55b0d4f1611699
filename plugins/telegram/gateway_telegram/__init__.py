"""gateway_telegram: a Telegram bot's webhook as a Channel Gateway channel.

`telegram` takes the Bot API's Updates, one per request, verified by the
`X-Telegram-Bot-Api-Secret-Token` header that `setWebhook(secret_token=...)` makes Telegram send;
with `send:` it replies through `sendMessage`.
"""

from __future__ import annotations

from gateway.plugin import ChannelRegistry, hookimpl
from gateway_telegram.channel import IDENTITY_KIND, MESSAGE_UPDATES, TelegramChannel
from gateway_telegram.secret import SECRET_HEADER, verify_secret_token
from gateway_telegram.sender import TelegramSender, TelegramSendSettings
from gateway_telegram.settings import TelegramSettings

__all__ = [
    "IDENTITY_KIND",
    "MESSAGE_UPDATES",
    "SECRET_HEADER",
    "TelegramChannel",
    "TelegramSendSettings",
    "TelegramSender",
    "TelegramSettings",
    "gateway_register_channels",
    "verify_secret_token",
]


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `telegram` channel."""
    registry.add(TelegramChannel)
