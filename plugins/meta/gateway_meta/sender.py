"""The `whatsapp-cloud` sender: replies through the WhatsApp Cloud API (DESIGN §12).

`POST {base_url}/{api_version}/{phone_number_id}/messages` (`GraphSender`), with
`messaging_product: whatsapp`, `to` (the customer's wa_id: international digits, no `+`) and
either `text{body}` or, for a request with a `template`, `template{name, language{code}}`. The
answer's `messages[0].id` (a wamid) is the provider message id that `statuses[].id` names.
`biz_opaque_callback_data` (`own_marker`), which every status of the message carries back, tells
the channel a message the gateway sent from one sent elsewhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson
from pydantic import Field, SecretStr

from gateway.plugin import Rejected, Retry
from gateway.schema import Interaction
from gateway_meta.graph_send import GraphErrors, GraphSender, GraphSendSettings, own_marker

__all__ = [
    "WHATSAPP_ERRORS",
    "WhatsAppSendSettings",
    "WhatsAppSender",
    "classify_error",
    "message_body",
]

MAX_TEXT = 4096
"""Longest text body the Cloud API takes."""
MAX_CALLBACK_DATA = 512
"""Longest `biz_opaque_callback_data` the Cloud API takes."""
WHATSAPP_ERRORS = GraphErrors(
    product="WhatsApp",
    rate_limited=frozenset({4, 80007, 130429, 131048, 131056, 1, 2}),
    auth=frozenset({10, 102, 190, 200}),
    refused={
        131047: "outside the 24-hour customer service window (re-engagement): send a template",
        131026: "undeliverable: the number is not on WhatsApp, or its app or terms are out of date",
        131030: "the recipient is not in the allowed list of this test number",
        131049: "withheld by Meta to maintain healthy ecosystem engagement",
        131031: "the business account is locked",
        368: "the business account is blocked for policy violations",
        132000: "the template's parameters do not match its placeholders",
        132001: "the template does not exist in this language, or is not approved",
    },
)
"""Rate limits: app, account, throughput, spam or pair rate limits, and the "temporary error"
codes 1 and 2 (reference/outbound.md). Auth: an invalid or expired token (190, 102) or one
without the permission (10, 200); not every `OAuthException`, which Graph gives 131047 and 100
too."""


class WhatsAppSendSettings(GraphSendSettings):
    """The `send:` block of a `whatsapp-cloud` channel."""

    token_field: ClassVar[str] = "access_token"
    token_example: ClassVar[str] = "WHATSAPP_ACCESS_TOKEN"
    access_token: SecretStr
    """A System User (or Solution Partner) access token with `whatsapp_business_messaging`."""
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    """The business phone number's id (WhatsApp Manager > Phone numbers), not the number."""
    template_language: str = Field(default="en_US", min_length=2, max_length=16)
    """The template language code used when a request's `template` names none."""


def message_body(interaction: Interaction, template_language: str) -> dict[str, Any] | Rejected:
    """Return the Cloud API message for `interaction`, or why it cannot be sent."""
    phones = [i.value for i in interaction.recipient.identities if i.kind == "phone"]
    wa_id = phones[0].removeprefix("+") if phones else ""
    if not wa_id.isdigit():
        return Rejected("the recipient has no international phone number (wa_id)")
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
        "biz_opaque_callback_data": own_marker(interaction, MAX_CALLBACK_DATA),
    }
    metadata = interaction.metadata
    if name := metadata.get("template"):
        language = metadata.get("template_language") or template_language
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if parameters := orjson.loads(metadata.get("template_parameters", "[]")):
            values = [{"type": "text", "text": value} for value in parameters]
            template["components"] = [{"type": "body", "parameters": values}]
        return body | {"type": "template", "template": template}
    if answered := metadata.get("reply_to"):  # quote the customer's message it answers
        body["context"] = {"message_id": answered}
    text = interaction.content.text if interaction.content else None
    if not text:
        return Rejected("whatsapp-cloud sends text or a template: the message has neither")
    if len(text) > MAX_TEXT:
        return Rejected(f"WhatsApp text is at most {MAX_TEXT} characters, got {len(text)}")
    return body | {"type": "text", "text": {"preview_url": False, "body": text}}


def classify_error(status: int, answer: Any, retry_after: float | None) -> Retry | Rejected:
    """Return the outcome of a refused Cloud API send (`WHATSAPP_ERRORS`)."""
    return WHATSAPP_ERRORS.classify(status, answer, retry_after)


class WhatsAppSender(GraphSender[WhatsAppSendSettings]):
    """Sends one WhatsApp message per outbound interaction."""

    type_name = "whatsapp-cloud-sender"
    settings_model: ClassVar[type[WhatsAppSendSettings]] = WhatsAppSendSettings
    errors = WHATSAPP_ERRORS

    @property
    def account_id(self) -> str:
        """Return the business phone number's id."""
        return self.settings.phone_number_id

    def bodies(self, interaction: Interaction) -> list[dict[str, Any]] | Rejected:
        """Return the one Cloud API message for `interaction`."""
        body = message_body(interaction, self.settings.template_language)
        return body if isinstance(body, Rejected) else [body]

    def message_id(self, answer: Any) -> str | None:
        """Return `messages[0].id` of a send's answer, if it has one."""
        messages = answer.get("messages") if isinstance(answer, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        wamid = first.get("id") if isinstance(first, dict) else None
        return wamid if isinstance(wamid, str) and wamid else None
