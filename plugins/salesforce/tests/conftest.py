"""Fixtures: a started fake Salesforce and backends talking to it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fake_salesforce import FakeSalesforce
from gateway_salesforce import SalesforceBackend, SalesforceSettings

from gateway.plugin import BackendContext

CLIENT_ID = "3MVG9fakeConsumerKeyForTests0001"
CLIENT_SECRET = "8D3F5C0A9B7E6D5C4B3A29180F7E6D5C"
BackendMaker = Callable[..., Awaitable[SalesforceBackend]]


def settings_block(org: FakeSalesforce, **settings: Any) -> dict[str, Any]:
    """Return a `salesforce` backend block pointing at `org`."""
    return {
        "type": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "base_url": org.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **settings,
    }


@pytest.fixture
async def org() -> AsyncIterator[FakeSalesforce]:
    """A fake Salesforce org; no wrong request allowed."""
    fake = FakeSalesforce(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with fake:
        yield fake
    fake.assert_ok()


@pytest.fixture
async def make_backend(org: FakeSalesforce) -> AsyncIterator[BackendMaker]:
    """Return `await make(**settings)`: a started backend against `org`."""
    async with aiohttp.ClientSession() as http:

        async def make(*, start: bool = True, **settings: Any) -> SalesforceBackend:
            backend = SalesforceBackend(
                BackendContext("crm", http, logging.getLogger("gateway.delivery.crm")),
                SalesforceSettings.model_validate(settings_block(org, **settings)),
            )
            if start:
                await backend.start()
            return backend

        yield make
