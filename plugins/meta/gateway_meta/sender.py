"""The `whatsapp-cloud` sender: replies through the WhatsApp Cloud API (DESIGN §12).

`POST {base_url}/{api_version}/{phone_number_id}/messages`, JSON, `Authorization: Bearer`, with
`messaging_product: whatsapp`, `to` (the customer's wa_id: international digits, no `+`) and
either `text{body}` or, for a request with a `template`, `template{name, language{code}}`. The
answer's `messages[0].id` (a wamid) is the provider message id that `statuses[].id` names. The
Graph API has no idempotency key, so a request that may have been written without an answer (a
timeout, a dropped connection) has an unknown outcome: it is dead-lettered with
`outcome_unknown` unless `send.on_unknown_outcome: resend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import orjson
from pydantic import Field, SecretStr, field_validator

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

__all__ = [
    "API_VERSION",
    "GRAPH_ROOT",
    "WhatsAppSendSettings",
    "WhatsAppSender",
    "classify_error",
    "message_body",
]

GRAPH_ROOT = "https://graph.facebook.com"
API_VERSION = "v25.0"
"""The Graph API version the sender pins by default (each version lives at least two years)."""
MAX_TEXT = 4096
"""Longest text body the Cloud API takes."""
RATE_LIMITED = frozenset({4, 80007, 130429, 131048, 131056, 1, 2})
"""Graph codes that mean "later": app, account, throughput, spam or pair rate limits, and the
"temporary error" codes 1 and 2 (reference/outbound.md)."""
AUTH_CODES = frozenset({10, 102, 190, 200})
"""Graph codes of an invalid or expired access token (190, 102) or one without the permission
(10, 200). Not every `OAuthException`: Graph gives that type to 131047 and 100 too."""
REFUSED = {
    131047: "outside the 24-hour customer service window (re-engagement): send a template",
    131026: "undeliverable: the number is not on WhatsApp, or its app or terms are out of date",
    131030: "the recipient is not in the allowed list of this test number",
    131049: "withheld by Meta to maintain healthy ecosystem engagement",
    131031: "the business account is locked",
    368: "the business account is blocked for policy violations",
    132000: "the template's parameters do not match its placeholders",
    132001: "the template does not exist in this language, or is not approved",
}
"""Graph codes that refuse a message for good, and what they mean."""


class WhatsAppSendSettings(SenderSettings):
    """The `send:` block of a `whatsapp-cloud` channel."""

    access_token: SecretStr
    """A System User (or Solution Partner) access token with `whatsapp_business_messaging`."""
    phone_number_id: str = Field(pattern=r"^[0-9]{1,32}$")
    """The business phone number's id (WhatsApp Manager > Phone numbers), not the number."""
    api_version: str = Field(default=API_VERSION, pattern=r"^v[0-9]{1,3}\.[0-9]$")
    """The Graph API version called, e.g. `v25.0`."""
    template_language: str = Field(default="en_US", min_length=2, max_length=16)
    """The template language code used when a request's `template` names none."""

    @field_validator("access_token")
    @classmethod
    def _no_blank_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("access_token must not be blank, e.g. ${WHATSAPP_ACCESS_TOKEN}")
        return token


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


def classify_error(status: int, answer: Any, retry_after: float | None) -> Outcome:
    """Return the outcome of a refused send: `Retry` (rate limit, 5xx) or `Rejected`.

    Raises `AuthenticationError` for a 401, a 403 or a refused token (`AUTH_CODES`).
    """
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code, text = error.get("code"), error.get("message")
    detail = f"Graph {status}" + (f" error {code}" if code is not None else "")
    if subcode := error.get("error_subcode"):
        detail += f"/{subcode}"
    if isinstance(text, str):
        detail += f": {text}"
    if trace := error.get("fbtrace_id"):
        detail += f" (fbtrace_id {trace})"
    if status in (401, 403) or code in AUTH_CODES:
        raise AuthenticationError(f"WhatsApp refused the access token ({detail[:300]})")
    if status == 429 or code in RATE_LIMITED or status >= 500:
        return Retry(detail[:500], after_s=retry_after)
    if isinstance(code, int) and code in REFUSED:
        return Rejected(f"{REFUSED[code]} ({detail})"[:500])
    return Rejected(detail[:500])


class WhatsAppSender(Backend[WhatsAppSendSettings]):
    """Sends one WhatsApp message per outbound interaction."""

    type_name = "whatsapp-cloud-sender"
    settings_model: ClassVar[type[WhatsAppSendSettings]] = WhatsAppSendSettings

    @property
    def _url(self) -> str:
        send = self.settings
        root = str(send.base_url or GRAPH_ROOT).rstrip("/")
        return f"{root}/{send.api_version}/{send.phone_number_id}/messages"

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send the message of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    async def _send(self, delivery: Delivery) -> Outcome:
        body = message_body(delivery.interaction, self.settings.template_language)
        if isinstance(body, Rejected):
            return body
        token = self.settings.access_token.get_secret_value()
        answer = await send_to_provider(
            self.ctx.http,
            self._url,
            self.settings,
            provider="WhatsApp",
            headers={"Authorization": f"Bearer {token}"},
            json=body,
        )
        if not isinstance(answer, ProviderAnswer):
            return answer
        if answer.status != 200:
            return classify_error(answer.status, answer.body, answer.retry_after)
        wamid = _wamid(answer.body)
        if wamid is None:
            return self.settings.unknown_outcome(
                f"the Graph API answered {answer.status} without a message id; WhatsApp may"
                " have the message"
            )
        return Delivered(provider_message_id=wamid)


def _wamid(answer: Any) -> str | None:
    """Return `messages[0].id` of a send's answer, if it has one."""
    messages = answer.get("messages") if isinstance(answer, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, dict) else None
    return wamid if isinstance(wamid, str) and wamid else None
