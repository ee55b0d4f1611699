"""The `telegram` sender: replies through the Bot API's `sendMessage` (DESIGN §12).

`POST {base_url}/bot{token}/sendMessage` with JSON `{chat_id, text}`, plus `message_thread_id`
in a forum topic and `reply_parameters: {message_id}` when the outbound interaction names the
message it answers. The chat is the outbound interaction's `thread_external_id` (the channel's
`chat` or `chat:topic`), else the recipient's `telegram_user` id (a private chat's id is the
user's). The answer's `result.message_id` is unique within its chat only, so the provider
message id is `{chat_id}:{message_id}`. Telegram sends no delivery receipts: a sent reply stays
`sent`. The bot token is part of every URL: it is cut out of every reason this module gives.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any, ClassVar, Final

from pydantic import SecretStr, field_validator

from gateway.errors import AuthenticationError
from gateway.plugin import (
    Backend,
    Delivered,
    Delivery,
    Outcome,
    ProviderAnswer,
    Rejected,
    Retry,
    SenderSettings,
    send_to_provider,
)
from gateway.redaction import Redactor

__all__ = [
    "API_ROOT",
    "IDENTITY_KIND",
    "REPLY_TO",
    "TelegramSendSettings",
    "TelegramSender",
    "classify_error",
    "send_message",
]

API_ROOT = "https://api.telegram.org"
IDENTITY_KIND: Final = "telegram_user"
"""The identity a Telegram user is known by: their numeric user id."""
REPLY_TO = "reply_to"
"""Outbound metadata naming the Telegram `message_id` a reply answers (in its chat)."""
_BOT_TOKEN = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$")
_THREAD = re.compile(r"^(-?[0-9]{1,20})(?::([0-9]{1,20}))?$")
_USER = re.compile(r"^[0-9]{1,20}$")
MAX_TEXT = 4096
"""`sendMessage` takes 1-4096 characters of text (after entities parsing)."""


class TelegramSendSettings(SenderSettings):
    """The `send:` block of a `telegram` channel."""

    bot_token: SecretStr
    """The bot's token from @BotFather (`123456:ABC-...`); it is part of every Bot API URL."""

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr) -> SecretStr:
        if not _BOT_TOKEN.match(token.get_secret_value()):
            raise ValueError(
                "bot_token must be the token @BotFather gave, '<bot id>:<secret>'"
                " (e.g. bot_token: ${TELEGRAM_BOT_TOKEN})"
            )
        return token


def classify_error(status: int, answer: Any) -> Retry | Rejected:
    """Return the outcome of a refused `sendMessage`: `Retry` (flood control, 5xx) or `Rejected`.

    Raises `AuthenticationError` for 401 (a revoked token) and 404 (a token Telegram does not
    know: the Bot API answers an unknown bot's URL 404).
    """
    fields = answer if isinstance(answer, dict) else {}
    code = fields.get("error_code", status)
    description = fields.get("description")
    detail = f"Telegram {code}" + (f": {description}" if description else "")
    if status in (401, 404):
        raise AuthenticationError(f"Telegram refused the bot token ({detail})"[:500])
    parameters = fields.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    if status == 429 or status >= 500:
        after = parameters.get("retry_after")
        return Retry(detail[:500], after_s=float(after) if isinstance(after, int | float) else None)
    if isinstance(new_chat := parameters.get("migrate_to_chat_id"), int):
        detail += f" (the group is now supergroup {new_chat})"
    return Rejected(detail[:500])


class TelegramSender(Backend[TelegramSendSettings]):
    """Sends one `sendMessage` per outbound interaction."""

    type_name = "telegram-sender"
    settings_model: ClassVar[type[TelegramSendSettings]] = TelegramSendSettings

    @property
    def _url(self) -> str:
        root = str(self.settings.base_url or API_ROOT).rstrip("/")
        return f"{root}/bot{self.settings.bot_token.get_secret_value()}/sendMessage"

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send the message of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    async def _send(self, delivery: Delivery) -> Outcome:
        request = send_message(delivery)
        if isinstance(request, Rejected):
            return request
        token = self.settings.bot_token.get_secret_value()
        answer = await send_to_provider(
            self.ctx.http,
            self._url,
            self.settings,
            provider="Telegram",
            json=request,
            secrets=[token],
        )
        if not isinstance(answer, ProviderAnswer):
            return answer
        if answer.status != 200:
            try:
                return self._redacted(classify_error(answer.status, answer.body))
            except AuthenticationError as exc:
                raise AuthenticationError(self._redact(str(exc))) from None
        result = answer.field("result")
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if not isinstance(message_id, int):
            return self.settings.unknown_outcome(
                "Telegram answered 200 without result.message_id; it may have sent the message"
            )
        return Delivered(provider_message_id=f"{request['chat_id']}:{message_id}")

    @cached_property
    def _redact(self) -> Redactor:
        """Cuts the bot token out of a text (aiohttp's errors quote the URL)."""
        return Redactor([self.settings.bot_token.get_secret_value()])

    def _redacted(self, outcome: Retry | Rejected) -> Retry | Rejected:
        return replace(outcome, reason=self._redact(outcome.reason))


def send_message(delivery: Delivery) -> dict[str, Any] | Rejected:
    """Return the `sendMessage` parameters of `delivery`, or why it cannot be sent."""
    interaction = delivery.interaction
    text = interaction.content.text if interaction.content else None
    if not text:
        return Rejected("telegram sends text: the message has no content.text")
    if len(text) > MAX_TEXT:
        return Rejected(f"Telegram takes at most {MAX_TEXT} characters of text, not {len(text)}")
    request: dict[str, Any] = {"text": text}
    thread = _THREAD.match(interaction.thread_external_id or "")
    users = [i.value for i in interaction.recipient.identities if i.kind == IDENTITY_KIND]
    if thread is not None:
        request["chat_id"] = int(thread[1])
        if thread[2] is not None:
            request["message_thread_id"] = int(thread[2])
    elif users and _USER.match(users[0]):
        request["chat_id"] = int(users[0])
    else:
        return Rejected("the recipient has no Telegram chat: no telegram_user id, no thread")
    reply_to = interaction.metadata.get(REPLY_TO, "")
    if reply_to.isdigit():
        request["reply_parameters"] = {
            "message_id": int(reply_to),
            "allow_sending_without_reply": True,
        }
    return request
