"""The `slack` sender: replies through the Web API's `chat.postMessage` (DESIGN §12).

`POST {base_url}/chat.postMessage` with `Authorization: Bearer xoxb-…` (scope `chat:write`) and
JSON `{channel, text, thread_ts}`. A reply goes into the thread of the message it answers when
the outbound interaction names it (`thread_external_id` `CHANNEL:TS`, the format the channel
stores); otherwise it goes to the app's direct message with the recipient (`channel` = the
`slack_user`'s user ID, which Slack resolves to that IM).

Slack answers most errors with HTTP 200 and `{"ok": false, "error": "..."}`. The answer's
`channel` and `ts` make the provider message id `CHANNEL:TS`: the id our own echo (the message
event of this app's message, `own_app: true`) carries as `metadata.channel` and `metadata.ts`.
Slack has no idempotency key and no delivery receipts: a request that may have been written
without an answer is dead-lettered with `outcome_unknown` unless `on_unknown_outcome: resend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Final

from pydantic import ConfigDict, HttpUrl, SecretStr, field_validator

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
from gateway.schema import Interaction

__all__ = ["API_ROOT", "SlackSendSettings", "SlackSender", "classify_error", "destination"]

API_ROOT: Final = "https://slack.com/api"
RETRY_ERRORS: Final = frozenset({"ratelimited", "service_unavailable"})
"""`error`s that mean "later": Slack did not post the message."""
UNKNOWN_ERRORS: Final = frozenset({"internal_error", "fatal_error"})
"""`error`s after which "some aspect of the operation" may have succeeded (Slack's words)."""
REFUSED: Final = {
    "channel_not_found": "the channel or user does not exist or the app cannot see it",
    "not_in_channel": "the app is not a member of the channel",
    "is_archived": "the channel is archived",
    "msg_too_long": "the text is too long",
    "no_text": "the message has no text",
}
"""`error`s that refuse a message for good."""
AUTH_ERRORS: Final = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "missing_scope"}
)
"""`error`s about the token: no message can be sent until it is fixed."""


class SlackSendSettings(SenderSettings):
    """The `send:` block of a `slack` channel."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a refused token is still a secret

    bot_token: SecretStr
    """The app's Bot User OAuth Token (`xoxb-…`, OAuth & Permissions), with scope `chat:write`."""
    base_url: HttpUrl = HttpUrl(API_ROOT)
    """The Web API root; default `https://slack.com/api`."""

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().startswith("xoxb-"):
            raise ValueError(
                "bot_token must be the Bot User OAuth Token (xoxb-...), e.g."
                " bot_token: ${SLACK_BOT_TOKEN}"
            )
        return token


def classify_error(status: int, answer: Any, retry_after: float | None) -> Retry | Rejected:
    """Return the outcome of a send Slack refused; raise `AuthenticationError` for the token."""
    error = answer.get("error") if isinstance(answer, dict) else None
    detail = f"Slack {status}" + (f" {error}" if isinstance(error, str) else "")
    if status in (401, 403) or error in AUTH_ERRORS:
        raise AuthenticationError(f"Slack refused the bot token ({detail})")
    if status == 429 or status >= 500 or error in RETRY_ERRORS:
        return Retry(detail[:500], after_s=retry_after)
    if isinstance(error, str) and error in REFUSED:
        return Rejected(f"{REFUSED[error]} ({detail})"[:500])
    return Rejected(detail[:500])


def destination(interaction: Interaction) -> dict[str, str] | Rejected:
    """Return `channel` and, in a thread, `thread_ts` of the message answering `interaction`."""
    thread = interaction.thread_external_id
    if thread is not None:
        channel, _, ts = thread.partition(":")
        if channel and ts:
            return {"channel": channel, "thread_ts": ts}
    users = [i.value for i in interaction.recipient.identities if i.kind == "slack_user"]
    user = users[0].partition(":")[2] if users else ""
    if not user:
        return Rejected("the recipient has no slack_user TEAM:USER identity")
    return {"channel": user}


class SlackSender(Backend[SlackSendSettings]):
    """Posts one Slack message per outbound interaction."""

    type_name = "slack-sender"
    settings_model: ClassVar[type[SlackSendSettings]] = SlackSendSettings

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Post the message of each delivery."""
        return [await self._send(delivery) for delivery in batch]

    def _body(self, interaction: Interaction) -> dict[str, str] | Rejected:
        text = interaction.content.text if interaction.content else None
        if not text:
            return Rejected("slack sends text: the message has no content.text")
        where = destination(interaction)
        if isinstance(where, Rejected):
            return where
        return {**where, "text": text}

    async def health_check(self) -> None:
        """Check the token with `auth.test`; raise `AuthenticationError` if Slack refuses it."""
        answer = await self._call("auth.test", {})
        if isinstance(answer, ProviderAnswer) and answer.status == 200 and _ok(answer.body):
            return
        if isinstance(answer, ProviderAnswer):
            answer = classify_error(answer.status, answer.body, answer.retry_after)
        raise RuntimeError(f"auth.test failed: {answer.reason}")

    async def _call(self, method: str, body: dict[str, str]) -> ProviderAnswer | Retry | Rejected:
        """POST `body` to the Web API `method`."""
        token = self.settings.bot_token.get_secret_value()
        return await send_to_provider(
            self.ctx.http,
            f"{str(self.settings.base_url).rstrip('/')}/{method}",
            self.settings,
            provider="Slack",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
            },
            json=body,
        )

    async def _send(self, delivery: Delivery) -> Outcome:
        body = self._body(delivery.interaction)
        if isinstance(body, Rejected):
            return body
        answer = await self._call("chat.postMessage", body)
        if not isinstance(answer, ProviderAnswer):
            return answer
        if answer.status != 200 or not _ok(answer.body):
            error = answer.field("error")
            if answer.status == 200 and error in UNKNOWN_ERRORS:
                return self.settings.unknown_outcome(
                    f"Slack error {error}; Slack may or may not have posted the message"
                )
            return classify_error(answer.status, answer.body, answer.retry_after)
        channel, ts = answer.field("channel"), answer.field("ts")
        if not isinstance(channel, str) or not channel or not isinstance(ts, str) or not ts:
            return self.settings.unknown_outcome(
                "Slack answered ok without the message's channel and ts; it may have posted it"
            )
        return Delivered(provider_message_id=f"{channel}:{ts}")


def _ok(answer: Any) -> bool:
    return isinstance(answer, dict) and answer.get("ok") is True
