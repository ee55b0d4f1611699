"""Fixtures: a started fake Zendesk and backends talking to it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fake_zendesk import FakeZendesk
from gateway_zendesk import ZendeskBackend, ZendeskSettings

from gateway.plugin import BackendContext

EMAIL = "integrations@shop.example"
TOKEN = "6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
BackendMaker = Callable[..., Awaitable[ZendeskBackend]]


@pytest.fixture
async def zendesk() -> AsyncIterator[FakeZendesk]:
    """A fake Zendesk; no wrong request allowed."""
    crm = FakeZendesk(email=EMAIL, api_token=TOKEN)
    async with crm:
        yield crm
    crm.assert_ok()


@pytest.fixture
async def make_backend(zendesk: FakeZendesk) -> AsyncIterator[BackendMaker]:
    """Return `await make(**settings)`: a started backend against `zendesk`."""
    async with aiohttp.ClientSession() as http:

        async def make(*, start: bool = True, **settings: Any) -> ZendeskBackend:
            block = {
                "type": "zendesk",
                "subdomain": "shop",
                "email": EMAIL,
                "api_token": TOKEN,
                "base_url": zendesk.url,
                **settings,
            }
            backend = ZendeskBackend(
                BackendContext("crm", http, logging.getLogger("gateway.delivery.crm")),
                ZendeskSettings.model_validate(block),
            )
            if start:
                await backend.start()
            return backend

        yield make
