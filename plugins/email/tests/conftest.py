"""Fixtures of the send tests: the strict fakes of the e-mail send APIs and the `webhook`
backend's receiver (each checked at the end), and a gateway replying through Postmark."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_mail_apis import POSTMARK_TOKEN, FakeMailgun, FakePostmark, FakeSendGrid
from send_gateway import config

from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver


@pytest.fixture
async def postmark() -> AsyncIterator[FakePostmark]:
    async with FakePostmark() as fake:
        yield fake
        fake.assert_ok()


@pytest.fixture
async def sendgrid() -> AsyncIterator[FakeSendGrid]:
    async with FakeSendGrid() as fake:
        yield fake
        fake.assert_ok()


@pytest.fixture
async def mailgun() -> AsyncIterator[FakeMailgun]:
    async with FakeMailgun() as fake:
        yield fake
        fake.assert_ok()


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory, postmark: FakePostmark, webhook_receiver: WebhookReceiver
) -> AsyncIterator[GatewayUnderTest]:
    send = {"transport": "postmark", "server_token": POSTMARK_TOKEN, "base_url": postmark.url}
    gut = await gateway_factory(config("postmark-inbound", send, webhook_receiver))
    async with gut.gateway.running():
        yield gut
