"""`gateway.testing.WebhookReceiver`: what the `webhook` backend delivers is verified and kept;
anything unsigned is a problem that fails the test that sent it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from gateway.testing import (
    HOOK_SECRET,
    GatewayFactory,
    WebhookReceiver,
    eventually,
    standard_webhook_headers,
)
from tests.payloads import SECRET, message


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as receiver:
        yield receiver


async def test_what_the_webhook_backend_delivers_is_kept_in_order(
    gateway_factory: GatewayFactory, hook: WebhookReceiver
) -> None:
    config = {"channels": {"chat": {"type": "generic", "secret": SECRET}}}
    gut = await gateway_factory(config | {"backends": hook.backends()})
    async with gut.gateway.running():
        for n in range(3):
            response = await gut.post_signed("chat", message(f"m-{n}"), SECRET)
            assert response.status == 200, await response.text()

        async def all_three() -> bool:
            return len(hook.messages()) == 3

        await eventually(all_three)
    assert [i["external_id"] for i in hook.messages()] == ["m-0", "m-1", "m-2"]
    hook.assert_ok()


@pytest.mark.parametrize("secret", ["whsec_b3RoZXItc2VjcmV0LW5vdC10aGUtaG9va3M=", None])
async def test_an_unsigned_or_wrongly_signed_event_is_refused_and_a_problem(
    hook: WebhookReceiver, secret: str | None
) -> None:
    body = orjson.dumps({"specversion": "1.0", "data": {"type": "message"}})
    headers = {"Content-Type": "application/cloudevents+json"}
    if secret is not None:
        headers |= standard_webhook_headers(secret, body)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hook.url}/hook", data=body, headers=headers) as response,
    ):
        assert response.status == 401
    assert hook.interactions == []
    with pytest.raises(AssertionError, match="bad signature"):
        hook.assert_ok()
    assert HOOK_SECRET in hook.backends()["crm"]["secret"]
