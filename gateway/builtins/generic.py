"""The `generic` channel: canonical JSON in, verified the Standard Webhooks way."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import Field

from gateway import standard_webhooks
from gateway.errors import PayloadError, SignatureError
from gateway.plugin import (
    Channel,
    ChannelRegistry,
    ChannelSettings,
    WebhookRequest,
    WebhookResponse,
    hookimpl,
)
from gateway.schema import ChannelKind, ChannelRef, Interaction
from gateway.settings_types import OneOrMany
from gateway.standard_webhooks import WebhookSecret

ACCEPTED_FIELDS = frozenset(
    {
        "external_id", "type", "direction", "occurred_at", "thread_external_id",
        "sender", "recipient", "content", "call", "status", "metadata",
    }
)  # fmt: skip
"""Fields a sender may set; the gateway assigns id, channel, received_at, customer and context."""


class GenericSettings(ChannelSettings):
    """Settings of the `generic` channel."""

    secret: OneOrMany[WebhookSecret] = Field(default_factory=list)
    """Standard Webhooks secret (`whsec_...`); a list accepts any of them (secret rotation)."""
    kind: ChannelKind = "webchat"
    """The channel kind this channel reports."""
    max_items: int = Field(default=100, ge=1)
    """Most interactions one request may carry (a JSON array)."""
    identities_verified: bool = True
    """Whether the sender checked the identities it posts (your app logged the customer in).
    False, for a web-chat form whose visitors type their details: every identity is asserted,
    as if each said `"verified": false`, and never merges customers (docs/identity.md)."""


class GenericChannel(Channel[GenericSettings]):
    """Interactions posted in canonical field names, signed the Standard Webhooks way.

    The body is one JSON object or an array of them. `external_id` defaults to the `webhook-id`
    header (with `/N` appended for the N-th item of an array), so a retried message is stored once.
    """

    type_name = "generic"
    kind = "webchat"
    provider = "generic"
    settings_model = GenericSettings

    @cached_property
    def channel_ref(self) -> ChannelRef:
        """Return the channel reference with the configured kind."""
        return ChannelRef(id=self.ctx.channel_id, kind=self.settings.kind, provider=self.provider)

    @cached_property
    def _keys(self) -> tuple[bytes, ...]:
        return standard_webhooks.decode_secrets(self.settings.secret)

    def verify(self, req: WebhookRequest) -> None:
        """Check the Standard Webhooks signature and its 5-minute replay window."""
        if req.method != "POST":
            raise SignatureError("only POST requests carry interactions")
        standard_webhooks.verify(self._keys, req.headers, req.body, self.ctx.clock())

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the interactions of a JSON object or array in canonical field names."""
        payload = req.json()
        items = payload if isinstance(payload, list) else [payload]
        if not items or len(items) > self.settings.max_items:
            raise PayloadError(
                f"expected 1 to {self.settings.max_items} interactions, got {len(items)}",
                status=422,
            )
        msg_id = req.headers.get("webhook-id")
        if msg_id is not None and not standard_webhooks.is_message_id(msg_id):
            raise PayloadError(
                f"must be 1 to {standard_webhooks.MAX_ID_LENGTH} printable ASCII characters",
                field="webhook-id",
            )
        if len(items) == 1:
            return [self._interaction(req, items[0], "", msg_id)]
        return [self._interaction(req, item, f"[{i}]", msg_id) for i, item in enumerate(items)]

    def _interaction(
        self, req: WebhookRequest, item: Any, where: str, msg_id: str | None
    ) -> Interaction:
        if not isinstance(item, dict):
            raise PayloadError("expected a JSON object", field=where or None, status=422)
        if not item.keys() <= ACCEPTED_FIELDS:
            raise PayloadError(
                "unknown or gateway-assigned field; accepted: "
                + ", ".join(sorted(ACCEPTED_FIELDS)),
                field=f"{where}.{min(item.keys() - ACCEPTED_FIELDS)}".lstrip("."),
                status=422,
            )
        fields: dict[str, Any] = {"type": "message", "direction": "inbound", **item}
        fields.setdefault("occurred_at", req.received_at)
        if "external_id" not in fields and msg_id:
            fields["external_id"] = f"{msg_id}/{where[1:-1]}" if where else msg_id
        asserted = not self.settings.identities_verified
        try:
            return self.interaction_from(req, fields, raw=item, asserted=asserted)
        except PayloadError as exc:
            field = f"{where}.{exc.field}".lstrip(".") if exc.field else where
            raise PayloadError(exc.reason, field=field or None, status=exc.status) from None

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Answer with the ids the interactions are stored under."""
        return WebhookResponse.json({"ids": [interaction.id for interaction in stored]})


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `generic` channel."""
    registry.add(GenericChannel)
