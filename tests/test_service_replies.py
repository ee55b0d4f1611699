"""A reply sent through `POST /admin/messages` answers the customer's wait (DESIGN §13): the
outbound interaction `gateway.outbound` commits is observed like any other, once, after its
commit; the send itself reaches a fake mail API exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import GatewayUnderTest
from tests.payloads import SECRET
from tests.sending_channel import TOKEN, FakeMailApi, start_gateway
from tests.service_day import contact, post, report, scraped, value


@pytest.fixture
async def mail_api() -> AsyncIterator[FakeMailApi]:
    async with FakeMailApi() as api:
        yield api


@pytest.fixture
async def gut(tmp_path: Path, mail_api: FakeMailApi, aiohttp_client: Any) -> GatewayUnderTest:
    config = f"""
storage: {{url: "sqlite:///{tmp_path}/gateway.db"}}
channels:
  mail:
    type: test-mail
    kind: email
    secret: {SECRET}
    send: {{token: {TOKEN}, address: support@example.com, base_url: "{mail_api.url}/"}}
backends: {{}}
"""
    return await start_gateway(config, aiohttp_client)


async def test_a_reply_through_the_admin_api_is_a_first_response(
    gut: GatewayUnderTest, mail_api: FakeMailApi
) -> None:
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    await post(gut, "mail", contact(occurred_at=two_hours_ago.isoformat()), "mail")
    assert value(await scraped(gut), "gateway_unanswered_conversations") == 1
    (mail,) = await gut.interactions("mail")
    body = {"to": {"interaction_id": mail.id}, "content": {"text": "On it"}}
    for status in (202, 200):  # the repeat returns the same message and is no second answer
        sent = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": "k"})
        assert sent.status == status, await sent.text()
    await gut.message_in_state((await sent.json())["message"]["id"], "sent")
    assert [m["to"] for m in mail_api.sent] == ["jane@example.com"]

    samples = await scraped(gut)
    email = {"channel_kind": "email"}
    assert value(samples, "gateway_first_response_seconds_count", **email) == 1
    waited = value(samples, "gateway_first_response_seconds_sum", **email)
    assert 7200 <= waited < 7260
    assert value(samples, "gateway_unanswered_conversations") == 0
    (responses,) = (await report(gut, since="1d"))["first_responses"]
    assert responses["count"] == 1
    assert responses["p50_seconds"] == pytest.approx(waited)
