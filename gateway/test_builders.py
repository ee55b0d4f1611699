"""Requests and channels for tests, built the way the gateway builds them (via gateway.testing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from ulid import ULID

from gateway import standard_webhooks
from gateway.channel import Channel, ChannelContext, utc_now
from gateway.request import WebhookRequest
from gateway.schema import Interaction

__all__ = ["make_channel", "run_channel", "standard_webhook_headers", "webhook_request"]


def standard_webhook_headers(
    secret: str, body: bytes, *, msg_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Return `webhook-id`/`-timestamp`/`-signature` headers signing `body` with `secret`."""
    return standard_webhooks.signature_headers(
        [standard_webhooks.decode_secret(secret)],
        msg_id or f"msg_{ULID()}",
        int(time.time()) if timestamp is None else timestamp,
        body,
    )


def webhook_request(
    body: bytes | str = b"",
    *,
    method: str = "POST",
    url: str = "https://gateway.example/webhooks/test",
    headers: Mapping[str, str] | None = None,
    content_type: str | None = None,
    received_at: datetime | None = None,
) -> WebhookRequest:
    """Build the `WebhookRequest` a channel would get for this HTTP request."""
    raw = body.encode() if isinstance(body, str) else body
    header_map = CIMultiDict(headers or {})
    if content_type:
        header_map["Content-Type"] = content_type
    media_type = header_map.get("Content-Type", "").partition(";")[0].strip().lower()
    form = None
    if media_type == "application/x-www-form-urlencoded":
        form = MultiDictProxy(MultiDict(parse_qsl(raw.decode(), keep_blank_values=True)))
    return WebhookRequest(
        method=method,
        url=url,
        headers=CIMultiDictProxy(header_map),
        query=MultiDictProxy(MultiDict(parse_qsl(urlsplit(url).query, keep_blank_values=True))),
        body=raw,
        received_at=received_at or utc_now(),
        form=form,
    )


def make_channel(
    channel_type: type[Channel[Any]],
    settings: Mapping[str, Any],
    *,
    channel_id: str = "test",
    clock: Callable[[], datetime] = utc_now,
    default_region: str = "US",
) -> Channel[Any]:
    """Instantiate a channel from a settings mapping (`type` is filled in)."""
    validated = channel_type.settings_model.model_validate(
        {"type": channel_type.type_name, **settings}
    )
    context = ChannelContext(channel_id, clock, default_region=default_region)
    return channel_type(context, validated)


def run_channel(channel: Channel[Any], req: WebhookRequest) -> list[Interaction]:
    """Verify then parse `req` the way the gateway does, with no server."""
    if not channel.settings.insecure:
        channel.verify(req)
    return channel.parse(req)
