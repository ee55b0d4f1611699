"""Settings of the Meta channels: the app secret and verify token they share, and `send:`."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.plugin import ChannelSettings, OneOrMany
from gateway_meta.messaging_sender import InstagramSendSettings, MessengerSendSettings
from gateway_meta.sender import WhatsAppSendSettings

__all__ = ["InstagramSettings", "MessengerSettings", "MetaSettings", "WhatsAppSettings"]


class MetaSettings(ChannelSettings):
    """Settings of the `whatsapp-cloud`, `messenger` and `instagram` channels."""

    app_secret: OneOrMany[SecretStr] = Field(default_factory=list)
    """The Meta app's App Secret (App settings > Basic), which signs every webhook
    (`X-Hub-Signature-256`). A list accepts any of them: several apps posting to one channel,
    or the old and the new secret while you rotate it."""
    verify_token: SecretStr | None = None
    """The Verify Token typed into the app's Webhooks settings; Meta sends it back in
    `hub.verify_token` when it checks the callback URL."""

    @field_validator("app_secret")
    @classmethod
    def _no_blank_secret(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        if any(not secret.get_secret_value().strip() for secret in secrets):
            raise ValueError("app_secret must not be blank: copy it from App settings > Basic")
        return secrets

    @field_validator("verify_token")
    @classmethod
    def _no_blank_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("verify_token must not be blank: Meta would never send a blank one")
        return token

    @model_validator(mode="after")
    def _secured(self) -> MetaSettings:
        given = {"app_secret": self.app_secret, "verify_token": self.verify_token}
        missing = [name for name, value in given.items() if not value]
        if missing and not self.insecure:
            raise ValueError(
                f"set {' and '.join(missing)} (unverified webhooks are accepted only with "
                "`insecure: true`)"
            )
        return self


class WhatsAppSettings(MetaSettings):
    """Settings of the `whatsapp-cloud` channel: the webhooks, and replies through `send`."""

    send: WhatsAppSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through the WhatsApp Cloud API."""


class MessengerSettings(MetaSettings):
    """Settings of the `messenger` channel: the webhooks, and replies through `send`."""

    send: MessengerSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through the Messenger Send API."""


class InstagramSettings(MetaSettings):
    """Settings of the `instagram` channel: the webhooks, and replies through `send`."""

    send: InstagramSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through Instagram messaging."""
