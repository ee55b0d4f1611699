"""Settings of the `telegram` channel: the webhook's secret token(s), and `send` for replies."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.plugin import ChannelSettings, OneOrMany
from gateway_telegram.sender import TelegramSendSettings

__all__ = ["TelegramSettings"]

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What `setWebhook` accepts as `secret_token`: 1-256 characters `A-Z`, `a-z`, `0-9`, `_`, `-`."""


class TelegramSettings(ChannelSettings):
    """Settings of the `telegram` channel."""

    secret_token: OneOrMany[SecretStr] = Field(default_factory=list)
    """The `secret_token` given to `setWebhook`; Telegram sends it in every request's
    `X-Telegram-Bot-Api-Secret-Token` header. A list accepts any of them: add the new token,
    call `setWebhook` with it, then remove the old one."""

    send: TelegramSendSettings | None = None
    """Replies through the Bot API (`sendMessage`) with the bot's token; none without it."""

    @field_validator("secret_token")
    @classmethod
    def _telegram_tokens(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        for token in tokens:
            value = token.get_secret_value()
            if not value.strip():
                raise ValueError(
                    "secret_token must not be blank: use the secret_token given to setWebhook, "
                    "e.g. secret_token: ${TELEGRAM_SECRET_TOKEN}"
                )
            if not _TOKEN.match(value):
                raise ValueError(
                    "secret_token must be 1-256 characters A-Z, a-z, 0-9, _ and - "
                    "(setWebhook refuses any other, so Telegram could never send it)"
                )
        return tokens

    @model_validator(mode="after")
    def _secured(self) -> TelegramSettings:
        if not self.secret_token and not self.insecure:
            raise ValueError(
                "set secret_token (unverified webhooks are accepted only with `insecure: true`)"
            )
        return self
