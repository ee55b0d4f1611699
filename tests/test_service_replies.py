"""A reply sent through `POST /admin/messages` answers the customer's wait (DESIGN §13): the
outbound interaction `gateway.outbound` commits is observed like any other, once, after its
commit; the send itself reaches a fake mail API exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import GatewayUnderTest
from tests.sending_channel import FakeMailApi, mail_config, start_gateway
from tests.service_day import contact, post, report, scraped, value


@pytest.fixture
async def gut(tmp_path: Path, mail_api: FakeMailApi, aiohttp_client: Any) -> GatewayUnderTest:
    return await start_gateway(mail_config(tmp_path, mail_api), aiohttp_client)


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


def receipt(of: str, state: str = "delivered") -> dict[str, Any]:
    """Return a generic-channel receipt of message `of` to the customer."""
    body = contact("outbound", type="status", status={"of_external_id": of, "state": state})
    del body["content"]
    return body


async def test_the_first_receipt_of_a_message_sent_elsewhere_is_the_answer(
    gut: GatewayUnderTest,
) -> None:
    """A message the gateway never sent (from the provider's inbox, another tool) shows only
    as receipts: the first one answers the wait, later ones and redeliveries do not."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    await post(gut, "mail", contact(occurred_at=an_hour_ago.isoformat()), "mail")
    await post(gut, "mail", receipt("inbox-1"), "inbox-1/delivered")
    await post(gut, "mail", receipt("inbox-1"), "inbox-1/delivered")  # a redelivery
    await post(gut, "mail", receipt("inbox-1", "read"), "inbox-1/read")

    samples = await scraped(gut)
    email = {"channel_kind": "email"}
    assert value(samples, "gateway_first_response_seconds_count", **email) == 1
    assert 3600 <= value(samples, "gateway_first_response_seconds_sum", **email) < 3660
    assert value(samples, "gateway_unanswered_conversations") == 0
    mail, delivered, read = await gut.interactions("mail")
    assert delivered.metadata["sent_elsewhere"] == "true"
    assert delivered.conversation_id == mail.conversation_id
    assert "sent_elsewhere" not in read.metadata
    [email_report] = (await report(gut))["first_responses"]
    assert email_report["count"] == 1


async def test_receipts_of_the_gateways_own_messages_answer_nothing(
    gut: GatewayUnderTest, mail_api: FakeMailApi
) -> None:
    await post(gut, "mail", contact(), "mail-1")
    (mail,) = await gut.interactions("mail")
    body = {"to": {"interaction_id": mail.id}, "content": {"text": "On it"}}
    mail_api.fail_next(10_000, status=503)  # stays queued: its provider id is not known yet
    queued = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": "q"})
    assert queued.status == 202, await queued.text()
    await post(gut, "mail", contact(), "mail-2")  # the customer writes again meanwhile
    await post(gut, "mail", receipt("mail-1"), "mail-1/delivered")  # may be the queued one's
    samples = await scraped(gut)
    assert value(samples, "gateway_unanswered_conversations") == 1
    receipts = [i for i in await gut.interactions("mail") if i.type == "status"]
    assert [r.metadata.get("sent_elsewhere") for r in receipts] == [None]
