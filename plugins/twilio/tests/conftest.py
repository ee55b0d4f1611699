"""The fakes the send tests run against, checked for wrong requests when each test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_twilio import FakeTwilio
from outbound_cases import Clock
from recordings import TOKEN


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(TOKEN) as fake:
        yield fake
        fake.assert_ok()


@pytest.fixture
def clock() -> Clock:
    return Clock()
