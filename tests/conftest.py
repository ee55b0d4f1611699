"""Shared fixtures: the gateway's own pytest plugin and a signed generic-channel config."""

from __future__ import annotations

from typing import Any

import pytest

from tests.payloads import HOOK_SECRET, SECRET
from tests.receiver import Receiver

pytest_plugins = ["gateway.testing"]


@pytest.fixture
def config() -> dict[str, Any]:
    """Return a config with one signed generic channel and one log backend."""
    return {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": {"audit": {"type": "log"}},
    }


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    """Return a webhook consumer listening on 127.0.0.1 (see tests/receiver.py)."""
    consumer = Receiver(HOOK_SECRET)
    server = await aiohttp_server(consumer.app())
    consumer.url = str(server.make_url("/events"))
    return consumer
