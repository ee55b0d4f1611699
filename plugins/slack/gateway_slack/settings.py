"""Settings of the `slack` channel: the app's signing secret(s)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.plugin import ChannelSettings, OneOrMany
from gateway_slack.sender import SlackSendSettings

__all__ = ["SlackSettings"]


class SlackSettings(ChannelSettings):
    """Settings of the `slack` channel."""

    signing_secret: OneOrMany[SecretStr] = Field(default_factory=list)
    """The Slack app's Signing Secret (Basic Information > App Credentials), which signs every
    request (`X-Slack-Signature`). A list accepts any of them: several apps posting to one
    channel, or the old and the new secret while you rotate it."""

    send: SlackSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through `chat.postMessage`."""

    @field_validator("signing_secret")
    @classmethod
    def _no_blank_secret(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        if any(not secret.get_secret_value().strip() for secret in secrets):
            raise ValueError(
                "signing_secret must not be blank: copy it from the app's Basic Information > "
                "App Credentials, e.g. signing_secret: ${SLACK_SIGNING_SECRET}"
            )
        return secrets

    @model_validator(mode="after")
    def _secured(self) -> SlackSettings:
        if not self.signing_secret and not self.insecure:
            raise ValueError(
                "set signing_secret (unverified webhooks are accepted only with `insecure: true`)"
            )
        return self
