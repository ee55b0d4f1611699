"""`MetaChannel`: what the WhatsApp, Messenger and Instagram channels share.

All three are Graph API webhooks: the same `hub.challenge` handshake, the same
`X-Hub-Signature-256`, the same envelope `{"object": ..., "entry": [...]}` batching several
events per request. Subclasses turn one `entry` into interactions.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from functools import cached_property
from typing import Any, ClassVar

from gateway.errors import PayloadError
from gateway.plugin import Channel, WebhookRequest, WebhookResponse
from gateway.schema import Interaction
from gateway_meta.handshake import answer_verification
from gateway_meta.payload import Node
from gateway_meta.settings import MetaSettings
from gateway_meta.signature import verify_signature

__all__ = ["MetaChannel"]


class MetaChannel(Channel[MetaSettings]):
    """A Graph API webhook: verified by app secret, batched in `entry[]`."""

    provider = "meta"
    settings_model = MetaSettings
    object_name: ClassVar[str]
    """The envelope's `object`: which Meta product the webhook is for."""

    @cached_property
    def _secrets(self) -> tuple[bytes, ...]:
        return tuple(secret.get_secret_value().encode() for secret in self.settings.app_secret)

    def handshake(self, req: WebhookRequest) -> WebhookResponse | None:
        """Answer Meta's `hub.challenge` if the verify token matches, else 403."""
        return answer_verification(req, self.settings.verify_token)

    def verify(self, req: WebhookRequest) -> None:
        """Check `X-Hub-Signature-256` against the raw body and the app secret(s)."""
        verify_signature(self._secrets, req.headers, req.body)

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return one interaction per event, across every `entry` of the batch."""
        root = Node.root(req.json())
        found = root.required_text("object")
        if found != self.object_name:
            raise root.error(
                f"this {self.type_name} channel takes '{self.object_name}' webhooks, got "
                f"'{found[:64]}': point that product's callback URL at a channel of its type",
                "object",
            )
        return [
            interaction
            for entry in root.required_objects("entry")
            for interaction in self.parse_entry(req, entry)
        ]

    @abstractmethod
    def parse_entry(self, req: WebhookRequest, entry: Node) -> Iterable[Interaction]:
        """Return the interactions of one `entry`; skip events the gateway does not map."""

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Answer 200 with a small body: Meta only needs the status, and fast."""
        return WebhookResponse.json({"received": len(stored)})

    def build(
        self, req: WebhookRequest, at: Node, *, raw: Any = None, **fields: Any
    ) -> Interaction:
        """Build an interaction from the event at `at` (its `raw` defaults to that event's JSON);
        an invalid one is a 422 naming `at`."""
        try:
            return self.interaction_from(req, fields, raw=at.value if raw is None else raw)
        except PayloadError as exc:
            reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
            raise PayloadError(reason, field=at.path or None, status=exc.status) from None
