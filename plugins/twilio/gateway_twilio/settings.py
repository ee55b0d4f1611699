"""Settings of the Twilio channels, validated from each channel's YAML block."""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from gateway.plugin import ChannelSettings, OneOrMany
from gateway_twilio.send_settings import TwilioSendSettings, TwilioWhatsAppSendSettings
from gateway_twilio.twiml import EMPTY_TWIML, check_twiml

__all__ = [
    "TwilioMessagingSettings",
    "TwilioSettings",
    "TwilioVoiceSettings",
    "TwilioWhatsAppSettings",
]


class TwilioSettings(ChannelSettings):
    """What the settings of every Twilio channel share: the signature and the public URL."""

    auth_token: OneOrMany[SecretStr] = Field(default_factory=list)
    """The account's Auth Token, which signs every webhook (`X-Twilio-Signature`). A list accepts
    any of them: add the secondary token before promoting it, remove the old one after. A
    SharedKey secret (Webhooks configuration API) works here too."""
    public_url: str | None = None
    """The gateway's public base URL as Twilio calls it (`https://gw.example.com`, with a path
    prefix if a proxy strips one). Twilio signs the URL it called: when set, the request's path
    and query are appended to it to check signatures; unset, the URL the gateway saw is used
    (behind a proxy, with `server.trust_proxy` on and the proxy in `server.trusted_proxies`,
    rebuilt from `X-Forwarded-Proto`/`-Host`)."""

    @field_validator("auth_token")
    @classmethod
    def _no_blank_token(cls, tokens: list[SecretStr]) -> list[SecretStr]:
        if any(not token.get_secret_value().strip() for token in tokens):
            raise ValueError(
                "auth_token must not be blank: use the Auth Token of the Twilio account "
                "(Console > Account > API keys & tokens), e.g. auth_token: ${TWILIO_AUTH_TOKEN}"
            )
        return tokens

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"public_url must be an http(s) URL like https://gw.example.com, got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ValueError("public_url is a base URL: no query or fragment")
        return parts.geturl().rstrip("/")


class TwilioMessagingSettings(TwilioSettings):
    """Settings of the `twilio-sms` channel (and the base of `twilio-whatsapp`'s): the
    webhooks, and replies through `send`."""

    send: TwilioSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through Twilio's Messages API."""

    @model_validator(mode="after")
    def _send_can_authenticate(self) -> Self:
        send = self.send
        if send is None:
            return self
        if send.api_key_sid is None and send.auth_token is None and not self.auth_token:
            raise ValueError(
                "send needs credentials: the channel's auth_token, or send.api_key_sid and"
                " send.api_key_secret"
            )
        if send.status_callback is None and self.public_url is None:
            raise ValueError(
                "send needs public_url (status callbacks go to {public_url}/webhooks/{channel})"
                " or send.status_callback"
            )
        return self


class TwilioWhatsAppSettings(TwilioMessagingSettings):
    """Settings of the `twilio-whatsapp` channel: WhatsApp webhooks, and replies through
    `send`."""

    send: TwilioWhatsAppSendSettings | None = None
    """Send outbound messages (docs/outbound.md) through Twilio's Messages API to WhatsApp."""


class TwilioVoiceSettings(TwilioSettings):
    """Settings of the `twilio-voice` channel."""

    twiml: str = EMPTY_TWIML
    """TwiML answering a call's own webhooks (the incoming call, call status callbacks); the
    default `<Response/>` hangs up. Requests reporting a recording or a transcription always get
    an empty `<Response/>`, so a `<Record>` without `action` cannot loop. Checked at start-up:
    one well-formed `<Response>` document, no DOCTYPE."""

    @field_validator("twiml")
    @classmethod
    def _valid_twiml(cls, twiml: str) -> str:
        return check_twiml(twiml)
