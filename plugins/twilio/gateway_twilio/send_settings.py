"""The `send:` blocks of the Twilio messaging channels (DESIGN §12): one Messages API account."""

from __future__ import annotations

import base64
import re
from typing import Self

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.plugin import SenderSettings

__all__ = ["E164", "WHATSAPP", "TwilioSendSettings", "TwilioWhatsAppSendSettings"]

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
WHATSAPP = "whatsapp:"
"""The address scheme of WhatsApp numbers in the Messages API (`whatsapp:+14155238886`)."""


class TwilioSendSettings(SenderSettings):
    """The `send:` block of a `twilio-sms` channel."""

    model_config = ConfigDict(populate_by_name=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    """The Account SID (`AC…`) the messages are created in."""
    from_: str | None = Field(default=None, alias="from")
    """The sending number (E.164, e.g. `+14155550100`) or alphanumeric sender ID; or set
    `messaging_service_sid`."""
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    """A Messaging Service (`MG…`) that picks the sending number; instead of `from`."""
    status_callback: str | None = None
    """Where Twilio reports each message's status; default `{public_url}/webhooks/{channel id}`
    (this channel's own webhook, which reads status callbacks)."""
    api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    """An API key (`SK…`) to authenticate with instead of the Account SID and Auth Token."""
    api_key_secret: SecretStr | None = None
    """The API key's secret."""
    auth_token: SecretStr | None = None
    """The Auth Token to authenticate with; default: the channel's (first) `auth_token`."""

    @model_validator(mode="after")
    def _one_sender_one_key(self) -> Self:
        if (self.from_ is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from and messaging_service_sid")
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("api_key_sid and api_key_secret go together")
        return self

    def authorization(self) -> str:
        """Return the Messages API's `Authorization`: Basic with the API key pair, else the
        Account SID and Auth Token."""
        if self.api_key_sid is not None and self.api_key_secret is not None:
            user, password = self.api_key_sid, self.api_key_secret.get_secret_value()
        else:
            user = self.account_sid
            password = self.auth_token.get_secret_value() if self.auth_token else ""
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class TwilioWhatsAppSendSettings(TwilioSendSettings):
    """The `send:` block of a `twilio-whatsapp` channel."""

    from_: str | None = Field(default=None, alias="from")
    """The WhatsApp sender's number in E.164 (`+14155238886`; `whatsapp:+14155238886` works
    too); or set `messaging_service_sid` (a Messaging Service with WhatsApp senders)."""

    @field_validator("from_")
    @classmethod
    def _whatsapp_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        number = value.strip().removeprefix(WHATSAPP)
        if not E164.match(number):
            raise ValueError(
                "from is the WhatsApp sender's phone number in E.164, like +14155238886"
                f" (or whatsapp:+14155238886), got {value!r:.40}"
            )
        return WHATSAPP + number
