"""The `twilio-sms` sender: outbound messages through Twilio's Messages API (DESIGN §12).

`POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic (an
API key pair, or the Account SID and the channel's Auth Token), with `To`, `From` or
`MessagingServiceSid`, `Body` and always a `StatusCallback`. The answer's `sid` is the provider
message id that status callbacks name. Twilio has no idempotency key, so a request that may have
been written without an answer (a timeout, a dropped connection) has an unknown outcome: it is
dead-lettered with `outcome_unknown` unless `send.on_unknown_outcome: resend`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from pydantic import ConfigDict, Field, SecretStr, model_validator

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

__all__ = ["API_ROOT", "TwilioSendSettings", "TwilioSender", "classify_error"]

API_ROOT = "https://api.twilio.com"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
RATE_LIMITED = frozenset({20429, 63018})
"""Twilio codes that mean "later": the request was not processed."""
UNREACHABLE = {
    21211: "invalid 'To' phone number",
    21612: "the 'To' number cannot be reached from this 'From'",
    21614: "'To' is not a mobile number: it cannot receive SMS",
    21606: "the 'From' number cannot send to this destination",
    21608: "a trial account can only send to verified numbers",
    21610: "the recipient unsubscribed (replied STOP): blocked until they reply START",
    63014: "the recipient blocked the sender or withdrew consent",
}
"""Twilio codes that refuse a message for good (reference/outbound.md)."""


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


def classify_error(status: int, answer: Any, retry_after: float | None) -> Outcome:
    """Return the outcome of a refused create: `Retry` (rate limit, 5xx) or `Rejected`."""
    code = answer.get("code") if isinstance(answer, dict) else None
    text = answer.get("message") if isinstance(answer, dict) else None
    detail = f"Twilio {status}" + (f" error {code}" if code else "") + (f": {text}" if text else "")
    if status == 429 or code in RATE_LIMITED or status >= 500:
        return Retry(detail[:500], after_s=retry_after)
    if isinstance(code, int) and code in UNREACHABLE:
        return Rejected(f"{UNREACHABLE[code]} ({detail})"[:500])
    return Rejected(detail[:500])


class TwilioSender(Backend[TwilioSendSettings]):
    """Creates one Twilio Message per outbound interaction."""

    type_name = "twilio-sms-sender"
    settings_model: ClassVar[type[TwilioSendSettings]] = TwilioSendSettings

    @property
    def _url(self) -> str:
        root = str(self.settings.base_url or API_ROOT).rstrip("/")
        return f"{root}/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json"

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Create the message of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    def _form(self, delivery: Delivery) -> dict[str, str] | Rejected:
        interaction, send = delivery.interaction, self.settings
        phones = [i.value for i in interaction.recipient.identities if i.kind == "phone"]
        if not phones or not _E164.match(phones[0]):
            return Rejected("the recipient has no E.164 phone number")
        text = interaction.content.text if interaction.content else None
        if not text:
            return Rejected("twilio-sms sends text: the message has no content.text")
        form = {"To": phones[0], "Body": text, "StatusCallback": send.status_callback or ""}
        if send.messaging_service_sid is not None:
            form["MessagingServiceSid"] = send.messaging_service_sid
        else:
            form["From"] = send.from_ or ""
        return form

    async def _send(self, delivery: Delivery) -> Outcome:
        form = self._form(delivery)
        if isinstance(form, Rejected):
            return form
        headers = {"Authorization": self.settings.authorization()}
        answer = await send_to_provider(
            self.ctx.http, self._url, self.settings, provider="Twilio", headers=headers, form=form
        )
        if not isinstance(answer, ProviderAnswer):
            return answer
        if answer.status in (401, 403):
            raise AuthenticationError(f"Twilio refused the credentials ({answer.status})")
        if answer.status not in (200, 201):
            return classify_error(answer.status, answer.body, answer.retry_after)
        sid = answer.field("sid")
        if not isinstance(sid, str) or not sid:
            return self.settings.unknown_outcome(
                f"Twilio answered {answer.status} without a message sid; it may have the message"
            )
        return Delivered(provider_message_id=sid)
