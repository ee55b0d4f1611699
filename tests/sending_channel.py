"""A channel that sends, for the core's own outbound tests (the core ships no sender).

`test-mail` is the `generic` channel (kind `email`) plus a `send:` block: its sender posts each
reply as JSON to a small mail API, `FakeMailApi`, a real server on 127.0.0.1 that refuses (and
records as a problem) a request without the bearer token, a sender address, an e-mail
recipient or a text.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from gateway.admin import create_admin_app
from gateway.app import create_public_app
from gateway.builtins.generic import GenericChannel, GenericSettings
from gateway.config_loader import parse_config
from gateway.metrics import Metrics
from gateway.plugin import (
    Backend,
    ChannelRegistry,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
    Retry,
    SenderSettings,
    hookimpl,
)
from gateway.plugins import load_plugins
from gateway.registry import PluginSource
from gateway.runtime import Gateway
from gateway.testing import FakeCRM, GatewayUnderTest
from tests.payloads import SECRET

__all__ = ["TOKEN", "FakeMailApi", "MailChannel", "start_gateway"]

TOKEN = "mail-api-token-for-tests-0001"


class MailSendSettings(SenderSettings):
    """The `send:` block of a `test-mail` channel."""

    token: SecretStr
    address: str
    """The address replies come from."""


class MailSender(Backend[MailSendSettings]):
    """Sends each reply with one `POST {base_url}/v1/messages`."""

    type_name = "test-mail-sender"
    settings_model = MailSendSettings

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send each reply; the API's `id` is the provider message id."""
        return [await self._send(delivery) for delivery in batch]

    async def _send(self, delivery: Delivery) -> Outcome:
        reply = delivery.interaction
        body = {
            "from": self.settings.address,
            "to": reply.recipient.identities[0].value,
            "text": reply.content.text if reply.content else None,
        }
        headers = {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}
        url = f"{self.settings.base_url}v1/messages"
        async with self.ctx.http.post(url, json=body, headers=headers) as response:
            if response.status >= 500:
                return Retry(f"the mail API answered {response.status}")
            if response.status != 200:
                return Rejected(f"the mail API answered {response.status}")
            answer: dict[str, Any] = await response.json()
        return Delivered(provider_message_id=str(answer["id"]))


class MailChannelSettings(GenericSettings):
    """The `generic` channel's settings and a `send:` block."""

    send: MailSendSettings | None = None


class MailChannel(GenericChannel):
    """The `generic` channel, reporting kind `email`, that replies through `MailSender`."""

    type_name = "test-mail"
    settings_model = MailChannelSettings
    sender = MailSender
    reply_kinds = frozenset({"email"})

    def send_settings(self) -> SenderSettings | None:
        """Return the `send:` block."""
        assert isinstance(self.settings, MailChannelSettings)
        return self.settings.send


@hookimpl
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Register the `test-mail` channel."""
    registry.add(MailChannel)


class FakeMailApi(FakeCRM):
    """`POST /v1/messages` with a bearer token and JSON `{from, to, text}` → `{"id"}`."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN, strict=True)
        self.sent: list[dict[str, Any]] = []

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the send route."""
        return [web.post("/v1/messages", self.send)]

    async def send(self, request: web.Request) -> web.Response:
        """Take one message, as a mail API would check it."""
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.refuse("missing or wrong bearer token", status=401)
        body = await request.json()
        if not isinstance(body, dict) or not body.get("from") or not body.get("text"):
            return self.refuse(f"from and text are required: {body}", status=422)
        if "@" not in str(body.get("to", "")):
            return self.refuse(f"to is not an e-mail address: {body}", status=422)
        self.sent.append(body)
        return self.json_response({"id": f"mail-{len(self.sent)}"})


def mail_config(tmp_path: Path, mail_api: FakeMailApi, other_channels: str = "") -> str:
    """Return a gateway config with the sending `mail` channel (posting to `mail_api`), the
    `other_channels` (YAML lines indented under `channels:`) and no backend."""
    return f"""
storage: {{url: "sqlite:///{tmp_path}/gateway.db"}}
channels:
  mail:
    type: test-mail
    kind: email
    secret: {SECRET}
    send: {{token: {TOKEN}, address: support@example.com, base_url: "{mail_api.url}/"}}
{other_channels}backends: {{}}
"""


async def start_gateway(config: str, aiohttp_client: Any) -> GatewayUnderTest:
    """Start a gateway whose plugins include `test-mail` (YAML `config`, storage included)."""
    source = PluginSource("test-mail", "tests", "0")
    plugins = load_plugins(extra=[(source, sys.modules[__name__])])
    gateway = Gateway(
        parse_config(config, "test-config.yaml", plugins, {}), plugins, metrics=Metrics()
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_public_app(gateway))
    admin: TestClient[Any, Any] = await aiohttp_client(create_admin_app(gateway))
    return GatewayUnderTest(gateway, client, admin)
