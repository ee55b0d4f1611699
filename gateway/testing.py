"""Helpers and pytest fixtures for testing channels, backends and whole gateways.

Use the fixtures by adding `pytest_plugins = ["gateway.testing"]` to a `conftest.py`
(they need the `testing` extra: `pip install channel-gateway[testing]`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import yaml
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy
from prometheus_client import CollectorRegistry
from ulid import ULID

from gateway import standard_webhooks
from gateway.admin import create_admin_app
from gateway.app import create_public_app
from gateway.channel import Channel, ChannelContext, utc_now
from gateway.config_loader import parse_config
from gateway.metrics import Metrics
from gateway.plugins import load_plugins
from gateway.request import WebhookRequest
from gateway.runtime import Gateway
from gateway.schema import Interaction

__all__ = [
    "GatewayFactory",
    "GatewayUnderTest",
    "gateway_factory",
    "make_channel",
    "run_channel",
    "standard_webhook_headers",
    "webhook_request",
]


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


@dataclass(frozen=True, slots=True)
class GatewayUnderTest:
    """A running gateway: its public and admin clients, and the `Gateway` itself."""

    gateway: Gateway
    client: TestClient[Any, Any]
    admin: TestClient[Any, Any]

    async def post_signed(
        self, channel_id: str, payload: Any, secret: str, *, msg_id: str | None = None
    ) -> ClientResponse:
        """POST `payload` (JSON-encoded unless bytes) signed the Standard Webhooks way."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        headers = standard_webhook_headers(secret, body, msg_id=msg_id)
        headers["Content-Type"] = "application/json"
        return await self.client.post(f"/webhooks/{channel_id}", data=body, headers=headers)


GatewayFactory = Callable[..., Awaitable[GatewayUnderTest]]
"""What `gateway_factory` returns: `await factory(config, env=..., **Gateway options)`."""


@pytest.fixture
def gateway_factory(tmp_path: Path, aiohttp_client: Any) -> GatewayFactory:
    """Start gateways from a config mapping or YAML text; storage defaults to tmp_path."""
    plugins = load_plugins()

    async def start(
        config: Mapping[str, Any] | str, *, env: Mapping[str, str] | None = None, **options: Any
    ) -> GatewayUnderTest:
        data = yaml.safe_load(config) if isinstance(config, str) else dict(config)
        data.setdefault("storage", {"url": f"sqlite:///{tmp_path}/gateway.db"})
        parsed = parse_config(yaml.safe_dump(data), "test-config.yaml", plugins, env or {})
        options.setdefault("metrics", Metrics(CollectorRegistry()))
        gateway = Gateway(parsed, plugins, **options)
        client = await aiohttp_client(create_public_app(gateway))
        admin = await aiohttp_client(create_admin_app(gateway))
        return GatewayUnderTest(gateway, client, admin)

    return start
