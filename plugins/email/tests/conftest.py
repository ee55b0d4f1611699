"""Fixtures of the send tests: the strict fakes of the e-mail send APIs, checked at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fake_mail_apis import FakeMailgun, FakePostmark, FakeSendGrid


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
