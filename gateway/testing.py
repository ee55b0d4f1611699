"""Helpers and pytest fixtures for testing channels, backends and whole gateways.

Use the fixtures by adding `pytest_plugins = ["gateway.testing"]` to a `conftest.py`
(they need the `testing` extra: `pip install channel-gateway[testing]`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from gateway.admin import create_admin_app
from gateway.app import create_public_app
from gateway.backend_conformance import BackendConformance
from gateway.config_loader import parse_config
from gateway.conformance import ChannelCase, ChannelConformance, golden
from gateway.doc_checks import keys_in_source, undocumented
from gateway.fake_crm import FakeCRM, RecordedRequest
from gateway.journey import Journey, Webhook
from gateway.metrics import Metrics
from gateway.plugins import load_plugins
from gateway.process import GatewayProcess, free_port
from gateway.recordings import Recordings
from gateway.runtime import Gateway
from gateway.schema import Interaction
from gateway.test_builders import (
    claimed_chat,
    customer_interactions,
    make_channel,
    make_interaction,
    run_channel,
    standard_webhook_headers,
    webhook_request,
)
from gateway.webhook_receiver import HOOK_SECRET, WebhookReceiver

__all__ = [
    "HOOK_SECRET",
    "BackendConformance",
    "ChannelCase",
    "ChannelConformance",
    "FakeCRM",
    "GatewayFactory",
    "GatewayProcess",
    "GatewayUnderTest",
    "Journey",
    "RecordedRequest",
    "Recordings",
    "Webhook",
    "WebhookReceiver",
    "claimed_chat",
    "compare_digest_calls",
    "customer_interactions",
    "eventually",
    "free_port",
    "gateway_factory",
    "golden",
    "keys_in_source",
    "make_channel",
    "make_interaction",
    "run_channel",
    "standard_webhook_headers",
    "undocumented",
    "webhook_receiver",
    "webhook_request",
]


@dataclass(frozen=True, slots=True)
class GatewayUnderTest:
    """A running gateway: its public and admin clients, and the `Gateway` itself."""

    gateway: Gateway
    client: TestClient[Any, Any]
    admin: TestClient[Any, Any]

    async def interactions(self, channel_id: str | None = None) -> list[Interaction]:
        """Return what the gateway stored (of one channel, or all), in arrival order.

        Raises `AssertionError` if a stored row no longer validates.
        """
        stored = await self.gateway.store.list_interactions(channel_id=channel_id, limit=100_000)
        readable = [i for i in stored if isinstance(i, Interaction)]
        unreadable = [i.id for i in stored if not isinstance(i, Interaction)]
        if unreadable:
            raise AssertionError(f"stored interactions no longer validate: {unreadable}")
        return readable

    async def message(self, message_id: str) -> dict[str, Any]:
        """Return an outbound message as `GET /admin/messages/{id}` answers it."""
        response = await self.admin.get(f"/admin/messages/{message_id}")
        assert response.status == 200, await response.text()
        found: dict[str, Any] = (await response.json())["message"]
        return found

    async def message_in_state(
        self, message_id: str, state: str, within_s: float = 5.0
    ) -> dict[str, Any]:
        """Wait until an outbound message reaches `state`; return it (AssertionError if not)."""

        async def reached() -> bool:
            return bool((await self.message(message_id))["state"] == state)

        await eventually(reached, within_s)
        return await self.message(message_id)

    async def post_signed(
        self, channel_id: str, payload: Any, secret: str, *, msg_id: str | None = None
    ) -> ClientResponse:
        """POST `payload` (JSON-encoded unless bytes) signed the Standard Webhooks way."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        headers = standard_webhook_headers(secret, body, msg_id=msg_id)
        headers["Content-Type"] = "application/json"
        return await self.client.post(f"/webhooks/{channel_id}", data=body, headers=headers)


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> None:
    """Wait until `check()` is true, polling every 20 ms; AssertionError after `within_s`."""
    for _ in range(max(1, int(within_s / 0.02))):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the condition did not hold within {within_s:g}s")


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    """A started `WebhookReceiver`; the test fails if it saw a bad request."""
    async with WebhookReceiver() as receiver:
        yield receiver
        receiver.assert_ok()


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


@pytest.fixture
def compare_digest_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    """Record the arguments of every `hmac.compare_digest` call (which still answers as usual).

    For "compared in constant time" tests: code must call it as `hmac.compare_digest`, looked up
    on the module at call time, for the calls to be seen.
    """
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    return calls
