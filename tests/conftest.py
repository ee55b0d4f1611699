"""Shared fixtures: the gateway's own pytest plugin and a signed generic-channel config."""

from __future__ import annotations

from typing import Any

import pytest

from tests.payloads import SECRET

pytest_plugins = ["gateway.testing"]


@pytest.fixture
def config() -> dict[str, Any]:
    """Return a config with one signed generic channel and one log backend."""
    return {
        "channels": {"web": {"type": "generic", "secret": SECRET}},
        "backends": {"audit": {"type": "log"}},
    }
