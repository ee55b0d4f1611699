"""Framework-free snapshots of a provider's webhook request and of the gateway's answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from multidict import CIMultiDictProxy, MultiMapping

from gateway.errors import PayloadError

__all__ = ["WebhookRequest", "WebhookResponse"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookRequest:
    """A webhook exactly as the provider sent it; what `verify` and `parse` work on."""

    method: str
    url: str
    """The URL as the provider called it: X-Forwarded-Proto/Host applied when `trust_proxy` is
    on and the request came through one of `server.trusted_proxies`."""
    headers: CIMultiDictProxy[str]
    query: MultiMapping[str]
    body: bytes
    """The raw body bytes, never re-serialised: signatures are computed over these."""
    received_at: datetime
    form: MultiMapping[str] | None = None
    """Every form field, repeated keys included, when the body is form-encoded."""
    remote: str | None = None
    """The client's address: the peer's, or the nearest untrusted X-Forwarded-For hop when the
    peer is a trusted proxy."""

    @property
    def content_type(self) -> str:
        """Return the media type of the body, lower case and without parameters."""
        return self.headers.get("Content-Type", "").partition(";")[0].strip().lower()

    def json(self) -> Any:
        """Return the body decoded as JSON, or raise `PayloadError` (400)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(f"body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """The answer the provider gets once its webhook is durably stored (or a handshake)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> WebhookResponse:
        """Return a JSON response."""
        return cls(status, orjson.dumps(payload), "application/json")

    @classmethod
    def text(
        cls, text: str, status: int = 200, content_type: str = "text/plain"
    ) -> WebhookResponse:
        """Return a text response (plain text, XML, ...)."""
        return cls(status, text.encode(), content_type)
