"""Fixtures: a started fake HubSpot and backends talking to it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fake_hubspot import FakeHubSpot
from gateway_hubspot import HubSpotBackend, HubSpotSettings

from gateway.plugin import BackendContext

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
BackendMaker = Callable[..., Awaitable[HubSpotBackend]]


@pytest.fixture
async def hubspot() -> AsyncIterator[FakeHubSpot]:
    """A fake HubSpot (search without lag unless a test sets it); no wrong request allowed."""
    crm = FakeHubSpot(token=TOKEN, search_lag_s=0.0)
    async with crm:
        yield crm
    crm.assert_ok()


@pytest.fixture
async def make_backend(hubspot: FakeHubSpot) -> AsyncIterator[BackendMaker]:
    """Return `await make(**settings)`: a started backend against `hubspot`."""
    async with aiohttp.ClientSession() as http:

        async def make(*, start: bool = True, **settings: Any) -> HubSpotBackend:
            block = {"type": "hubspot", "token": TOKEN, "base_url": hubspot.url, **settings}
            backend = HubSpotBackend(
                BackendContext("crm", http, logging.getLogger("gateway.delivery.crm")),
                HubSpotSettings.model_validate(block),
            )
            if start:
                await backend.start()
            return backend

        yield make
