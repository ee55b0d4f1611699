"""Settings of the e-mail channels, validated from each channel's YAML block."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.plugin import ChannelSettings, Duration, OneOrMany, normalize_email
from gateway_email.send_settings import EmailSendSettings
from gateway_email.sendgrid_events import load_event_key

__all__ = [
    "BasicAuth",
    "BasicAuthSettings",
    "EmailSettings",
    "MailgunSettings",
    "SendGridSettings",
]


class BasicAuth(BaseModel):
    """The user name and password the provider sends in `Authorization: Basic`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    username: SecretStr
    """The user name written in the webhook URL (`https://USER:PASSWORD@gw.example.com/...`)."""
    password: SecretStr
    """The password written in the webhook URL; a long random string."""

    @field_validator("username", "password")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank: use a long random value, e.g. ${EMAIL_HOOK_PASS}")
        return value

    @field_validator("username")
    @classmethod
    def _no_colon(cls, value: SecretStr) -> SecretStr:
        if ":" in value.get_secret_value():
            raise ValueError("a Basic auth user name cannot contain ':'")
        return value


class EmailSettings(ChannelSettings):
    """What every e-mail channel takes."""

    inbound_addresses: OneOrMany[str] = Field(default_factory=list)
    """Our own addresses (`support@example.com`, the provider's parse address). Together with
    each message's own recipients they never become a customer's identity: a message sent from
    one of them (a forward, a loop) has no customer identity."""
    send: EmailSendSettings | None = None
    """Replies: the address they come from and their transport (SMTP, Postmark, SendGrid or
    Mailgun); none without it."""

    @field_validator("inbound_addresses")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        normalized = []
        for address in addresses:
            found = normalize_email(address)
            if found is None:
                raise ValueError(f"{address!r:.60} is not an e-mail address")
            normalized.append(found)
        return normalized


class BasicAuthSettings(EmailSettings):
    """Settings of `sendgrid-inbound` and `postmark-inbound`: Basic auth credentials."""

    basic_auth: BasicAuth | None = None
    """The credentials the provider's webhook URL carries; every request must present them."""

    @model_validator(mode="after")
    def _secured(self) -> BasicAuthSettings:
        if self.basic_auth is None and not self.insecure:
            raise ValueError(
                "set basic_auth: {username, password} (unauthenticated webhooks are accepted "
                "only with `insecure: true`)"
            )
        return self


class SendGridSettings(BasicAuthSettings):
    """Settings of `sendgrid-inbound`: Basic auth for Inbound Parse, and the Event Webhook's
    verification key for the status of replies."""

    event_webhook_key: str | None = Field(default=None, max_length=1000)
    """The Event Webhook's verification key (Mail Settings → Event Webhook → Signed Event Webhook
    Requests), base64 as SendGrid shows it. Unset: Event Webhook posts are refused 401."""

    @field_validator("event_webhook_key")
    @classmethod
    def _a_key(cls, value: str | None) -> str | None:
        if value is not None:
            load_event_key(value)
        return value


class MailgunSettings(EmailSettings):
    """Settings of `mailgun-inbound`."""

    signing_key: OneOrMany[SecretStr] = Field(default_factory=list)
    """The HTTP webhook signing key (Mailgun: Sending > Webhooks > HTTP webhook signing key).
    A list accepts any of them, for rotation."""
    max_age: Duration = timedelta(hours=9)
    """Oldest `timestamp` accepted. Mailgun resends a refused POST with its original signature
    for 8 hours, so a shorter window drops messages the gateway could not store at first."""
    replay_cache_size: Annotated[int, Field(ge=1)] = 100_000
    """How many recent tokens are remembered: a token seen with another body is a replay."""

    @field_validator("signing_key")
    @classmethod
    def _no_blank_key(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if any(not key.get_secret_value().strip() for key in keys):
            raise ValueError(
                "signing_key must not be blank: copy the HTTP webhook signing key from "
                "Mailgun (Sending > Webhooks), e.g. signing_key: ${MAILGUN_SIGNING_KEY}"
            )
        return keys

    @model_validator(mode="after")
    def _secured(self) -> MailgunSettings:
        if not self.signing_key and not self.insecure:
            raise ValueError(
                "set signing_key (unverified webhooks are accepted only with `insecure: true`)"
            )
        return self
