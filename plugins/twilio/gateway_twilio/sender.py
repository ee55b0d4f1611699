"""The Twilio senders: outbound messages through Twilio's Messages API (DESIGN §12).

`twilio-sms` and `twilio-whatsapp` create messages the same way:
`POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP Basic (an
API key pair, or the Account SID and the channel's Auth Token), with `To`, `From` or
`MessagingServiceSid`, the content (`Body`, one `MediaUrl` per attachment) and always a
`StatusCallback`. On WhatsApp the addresses are `whatsapp:+E164`, and a template is a Content
template: its `ContentSid` (`HX…`) and `ContentVariables`, without `Body` or `MediaUrl`.

The answer's `sid` is the provider message id that status callbacks name. Twilio has no
idempotency key, so a request that may have been written without an answer (a timeout, a
dropped connection) has an unknown outcome: it is dead-lettered with `outcome_unknown` unless
`send.on_unknown_outcome: resend`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from multidict import MultiDict

from gateway.errors import AuthenticationError
from gateway.plugin import (
    Backend,
    Delivered,
    Delivery,
    Outcome,
    ProviderAnswer,
    Rejected,
    Retry,
    send_to_provider,
)
from gateway.schema import Interaction
from gateway_twilio.send_settings import (
    E164,
    WHATSAPP,
    TwilioSendSettings,
    TwilioWhatsAppSendSettings,
)

__all__ = [
    "API_ROOT",
    "MAX_MEDIA",
    "RATE_LIMITED",
    "REFUSED",
    "TwilioSender",
    "TwilioWhatsAppSender",
    "classify_error",
]

API_ROOT = "https://api.twilio.com"
MAX_MEDIA = 10
"""Most `MediaUrl`s one Twilio message takes (5 MB in all for MMS)."""
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
RATE_LIMITED = frozenset({20429, 63018})
"""Twilio codes that mean "later": the request was not processed."""
REFUSED = {
    21211: "invalid 'To' phone number",
    21612: "the 'To' number cannot be reached from this 'From'",
    21614: "'To' is not a mobile number: it cannot receive SMS",
    21606: "the 'From' number cannot send to this destination",
    21608: "a trial account can only send to verified numbers",
    21610: "the recipient unsubscribed (replied STOP): blocked until they reply START",
    21655: "the ContentSid is not a Content template of this account",
    21656: "ContentVariables is not valid for the template",
    63014: "the recipient blocked the sender or withdrew consent",
    63016: "outside WhatsApp's 24-hour customer service window: send a template (a ContentSid)",
    63024: "not a valid WhatsApp user (no WhatsApp, an outdated app, or WhatsApp's terms not"
    " accepted)",
    63028: "the template's variables do not match the parameters given",
}
"""Twilio codes that refuse a message for good (reference/outbound.md), with what they mean."""


def classify_error(status: int, answer: Any, retry_after: float | None) -> Outcome:
    """Return the outcome of a refused create: `Retry` (rate limit, 5xx) or `Rejected`."""
    code = answer.get("code") if isinstance(answer, dict) else None
    text = answer.get("message") if isinstance(answer, dict) else None
    detail = f"Twilio {status}" + (f" error {code}" if code else "") + (f": {text}" if text else "")
    if status == 429 or code in RATE_LIMITED or status >= 500:
        return Retry(detail[:500], after_s=retry_after)
    if isinstance(code, int) and code in REFUSED:
        return Rejected(f"{REFUSED[code]} ({detail})"[:500])
    return Rejected(detail[:500])


class TwilioSender(Backend[TwilioSendSettings]):
    """Creates one Twilio Message per outbound interaction: SMS, or MMS with attachments."""

    type_name = "twilio-sms-sender"
    settings_model: ClassVar[type[TwilioSendSettings]] = TwilioSendSettings
    channel_type: ClassVar[str] = "twilio-sms"
    """The channel type this sender sends for, as refusals name it."""
    scheme: ClassVar[str] = ""
    """What comes before the customer's E.164 number in `To`."""
    max_media: ClassVar[int] = MAX_MEDIA
    """Most attachments one message carries."""

    @property
    def _url(self) -> str:
        root = str(self.settings.base_url or API_ROOT).rstrip("/")
        return f"{root}/2010-04-01/Accounts/{self.settings.account_sid}/Messages.json"

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Create the message of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    def content(self, interaction: Interaction) -> MultiDict[str] | Rejected:
        """Return what the message says as form fields (`Body`, `MediaUrl`s), or why it cannot
        be sent."""
        content = interaction.content
        text = content.text if content else None
        attachments = content.attachments if content else []
        if not text and not attachments:
            return Rejected(f"{self.channel_type} sends text or attachments: the message has none")
        if len(attachments) > self.max_media:
            return Rejected(
                f"{self.channel_type} sends at most {self.max_media} attachment(s) per message,"
                f" got {len(attachments)}"
            )
        fields: MultiDict[str] = MultiDict()
        if text:
            fields["Body"] = text
        for n, attachment in enumerate(attachments):
            url = urlsplit(attachment.url or "")
            if url.scheme not in ("http", "https") or not url.hostname:
                return Rejected(
                    f"attachment {n}: Twilio fetches media from a public http(s) URL, got"
                    f" {attachment.url!r:.80}"
                )
            fields.add("MediaUrl", url.geturl())
        return fields

    def _form(self, delivery: Delivery) -> MultiDict[str] | Rejected:
        interaction, send = delivery.interaction, self.settings
        phones = [i.value for i in interaction.recipient.identities if i.kind == "phone"]
        if not phones or not E164.match(phones[0]):
            return Rejected("the recipient has no E.164 phone number")
        form = self.content(interaction)
        if isinstance(form, Rejected):
            return form
        form["To"] = self.scheme + phones[0]
        if send.messaging_service_sid is not None:
            form["MessagingServiceSid"] = send.messaging_service_sid
        else:
            form["From"] = send.from_ or ""
        form["StatusCallback"] = send.status_callback or ""
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


class TwilioWhatsAppSender(TwilioSender):
    """Creates one Twilio WhatsApp message per outbound interaction: text with at most one
    attachment, or a Content template (`ContentSid`, `ContentVariables`)."""

    type_name = "twilio-whatsapp-sender"
    settings_model: ClassVar[type[TwilioSendSettings]] = TwilioWhatsAppSendSettings
    channel_type: ClassVar[str] = "twilio-whatsapp"
    scheme: ClassVar[str] = WHATSAPP
    max_media: ClassVar[int] = 1  # Twilio ignores a WhatsApp message's further media

    def content(self, interaction: Interaction) -> MultiDict[str] | Rejected:
        """Return the template's `ContentSid` and `ContentVariables` (`{"1": first parameter,
        ...}`) for a template request, else the text and attachment."""
        name = interaction.metadata.get("template")
        if name is None:
            return super().content(interaction)
        if not isinstance(name, str) or not _CONTENT_SID.match(name):
            return Rejected(
                "twilio-whatsapp templates are Twilio Content templates: template.name must be"
                f" a Content SID (HX and 32 hex digits), got {name!r:.40}"
            )
        fields = MultiDict({"ContentSid": name})
        parameters = orjson.loads(str(interaction.metadata.get("template_parameters", "[]")))
        if parameters:
            variables = {str(n): value for n, value in enumerate(parameters, start=1)}
            fields["ContentVariables"] = orjson.dumps(variables).decode()
        return fields
