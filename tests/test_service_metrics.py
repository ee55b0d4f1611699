"""Cross-channel service metrics (DESIGN §13) through a running gateway: `/metrics` and
`GET /admin/reports/service`, driven by signed webhooks of the `generic` channel.

Every contact names its own `occurred_at`, so the scripted day (an e-mail at 09:00, a call at
15:00, the answer at 15:05, all yesterday) is exact to the second.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from gateway.schema import AUTOMATED
from gateway.service_report import service_report
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store, store_for
from tests.payloads import SECRET
from tests.service_day import contact, post, report, scraped, value


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


PHONE = "+15551234567"
CONFIG = {
    "channels": {
        "email": {"type": "generic", "kind": "email", "secret": SECRET},
        "voice": {"type": "generic", "kind": "voice", "secret": SECRET},
        "chat": {"type": "generic", "kind": "webchat", "secret": SECRET},
    },
    "backends": {},
}
DAY = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(), UTC)
"""Yesterday, 00:00 UTC: the scripted day."""


def at(hours: int, minutes: int = 0) -> str:
    """Return the RFC 3339 time of `hours:minutes` on the scripted day."""
    return (DAY + timedelta(hours=hours, minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture
async def gut(gateway_factory: GatewayFactory) -> GatewayUnderTest:
    return await gateway_factory(CONFIG)


async def scripted_day(gut: GatewayUnderTest) -> None:
    """An e-mail at 09:00; the customer calls at 15:00, before any answer; a reply at 15:05."""
    await post(gut, "email", contact(occurred_at=at(9)), "mail-0900")
    (mail,) = await gut.interactions("email")
    link = {"kind": "phone", "value": PHONE}  # the operator knows the customer's phone
    linked = await gut.admin.post(f"/admin/customers/{mail.customer_id}/identities", json=link)
    assert linked.status == 200, await linked.text()
    call = contact(occurred_at=at(15), kind="phone", value=PHONE, type="call")
    call["call"] = {"status": "completed", "duration_s": 63}
    del call["content"]
    await post(gut, "voice", call, "call-1500")
    await post(gut, "email", contact("outbound", occurred_at=at(15, 5)), "reply-1505")


async def test_the_scripted_day_is_one_chase_and_a_first_response_of_6h05(
    gut: GatewayUnderTest,
) -> None:
    await scripted_day(gut)
    (call,) = await gut.interactions("voice")
    assert call.context is not None
    assert call.context.repeat_contact
    samples = await scraped(gut)
    assert value(samples, "gateway_chases_total", from_kind="email", to_kind="voice") == 1
    assert sum(v for (name, _), v in samples.items() if name == "gateway_chases_total") == 1
    email = {"channel_kind": "email"}
    assert value(samples, "gateway_first_response_seconds_count", **email) == 1
    assert value(samples, "gateway_first_response_seconds_sum", **email) == 21_900
    assert value(samples, "gateway_first_response_seconds_bucket", le="14400.0", **email) == 0
    assert value(samples, "gateway_first_response_seconds_bucket", le="28800.0", **email) == 1
    assert value(samples, "gateway_unanswered_conversations") == 0

    document = await report(gut)
    assert document["first_responses"] == [
        {"channel_kind": "email", "count": 1, "p50_seconds": 21_900, "p90_seconds": 21_900}
    ]
    assert document["chases"] == [{"from_kind": "email", "to_kind": "voice", "count": 1}]
    assert document["unanswered_conversations"] == 0
    until = datetime.fromisoformat(document["window"]["until"])
    since = datetime.fromisoformat(document["window"]["since"])
    assert until - since == timedelta(days=7)


async def test_the_report_is_read_from_the_store_not_from_the_process(
    gut: GatewayUnderTest, store_url: str
) -> None:
    await scripted_day(gut)
    # Another process's store on the same database (the CLI's, or after a restart): no counters.
    other = store_for(store_url)
    await other.open()
    try:
        now = datetime.now(UTC)
        found = await service_report(other, since=DAY, until=now, window=timedelta(hours=24))
    finally:
        await other.close()
    assert found.first_responses == {"email": [21_900.0]}
    assert found.chases == {("email", "voice"): 1}


async def test_the_report_counts_only_what_happened_since(gut: GatewayUnderTest) -> None:
    await scripted_day(gut)
    today = (DAY + timedelta(days=1)).isoformat()
    empty = await report(gut, since=today)
    assert empty["first_responses"] == []
    assert empty["chases"] == []
    assert empty["window"]["since"] == today.replace("+00:00", ".000000Z")
    # The call (the chase) is in a window from 12:00; the wait began before it, at 09:00.
    noon = await report(gut, since=at(12))
    assert noon["chases"] == [{"from_kind": "email", "to_kind": "voice", "count": 1}]
    assert noon["first_responses"][0]["p50_seconds"] == 21_900
    after_call = await report(gut, since=at(15, 1))
    assert after_call["chases"] == []
    assert after_call["first_responses"][0]["count"] == 1


async def test_redeliveries_count_once_and_the_gauge_follows_the_wait(
    gut: GatewayUnderTest,
) -> None:
    now = datetime.now(UTC)
    first = contact(occurred_at=(now - timedelta(minutes=30)).isoformat())
    await post(gut, "email", first, "mail")
    assert value(await scraped(gut), "gateway_unanswered_conversations") == 1
    # The link was made before, the call is a chase; the provider delivers it twice.
    (mail,) = await gut.interactions("email")
    link = {"kind": "phone", "value": PHONE}
    assert (await gut.admin.post(f"/admin/customers/{mail.customer_id}/identities", json=link)).ok
    call = contact(occurred_at=(now - timedelta(minutes=10)).isoformat(), kind="phone", value=PHONE)
    for _ in range(2):
        await post(gut, "voice", call, "call")
    reply = contact("outbound", occurred_at=now.isoformat())
    for _ in range(2):
        await post(gut, "email", reply, "reply")
    assert len(await gut.interactions()) == 3
    samples = await scraped(gut)
    assert value(samples, "gateway_chases_total", from_kind="email", to_kind="voice") == 1
    count = "gateway_first_response_seconds_count"
    assert value(samples, count, channel_kind="email") == 1
    assert value(samples, "gateway_first_response_seconds_sum", channel_kind="email") == 1800
    assert value(samples, "gateway_unanswered_conversations") == 0
    document = await report(gut, since="1h")
    assert document["chases"] == [{"from_kind": "email", "to_kind": "voice", "count": 1}]
    assert [r["count"] for r in document["first_responses"]] == [1]


async def test_a_second_contact_on_the_same_channel_is_no_chase_and_the_wait_keeps_its_start(
    gut: GatewayUnderTest,
) -> None:
    await post(gut, "email", contact(occurred_at=at(9)), "mail-1")
    await post(gut, "email", contact(occurred_at=at(11)), "mail-2")
    await post(gut, "email", contact("outbound", occurred_at=at(12)), "reply")
    samples = await scraped(gut)
    assert not [name for name, _ in samples if name == "gateway_chases_total"]
    assert value(samples, "gateway_first_response_seconds_sum", channel_kind="email") == 3 * 3600
    document = await report(gut)
    assert document["chases"] == []
    assert document["first_responses"] == [
        {"channel_kind": "email", "count": 1, "p50_seconds": 10_800, "p90_seconds": 10_800}
    ]


async def test_automated_contacts_neither_open_a_wait_nor_answer_one(
    gut: GatewayUnderTest,
) -> None:
    now = datetime.now(UTC)
    auto = contact(occurred_at=(now - timedelta(hours=2)).isoformat(), metadata={AUTOMATED: "1"})
    await post(gut, "email", auto, "auto-reply-from-the-customer")
    assert value(await scraped(gut), "gateway_unanswered_conversations") == 0
    chat = contact(occurred_at=(now - timedelta(hours=1)).isoformat())
    await post(gut, "chat", chat, "chat")  # not a chase: nothing was waiting
    assert value(await scraped(gut), "gateway_unanswered_conversations") == 1
    ours = contact("outbound", occurred_at=now.isoformat(), metadata={AUTOMATED: "1"})
    await post(gut, "email", ours, "our-auto-acknowledgement")
    samples = await scraped(gut)
    assert value(samples, "gateway_unanswered_conversations") == 1
    assert not [name for name, _ in samples if name.startswith("gateway_chases")]
    assert not [name for name, _ in samples if name.startswith("gateway_first_response_seconds_c")]
    document = await report(gut, since="1d")
    assert document["unanswered_conversations"] == 1
    assert document["first_responses"] == []
    assert document["chases"] == []


async def test_a_conversation_past_its_window_no_longer_waits(gut: GatewayUnderTest) -> None:
    await post(gut, "email", contact(), "now")
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    old = contact(occurred_at=three_days_ago, value="old@example.com")
    await post(gut, "email", old, "three-days-ago")
    assert value(await scraped(gut), "gateway_unanswered_conversations") == 1
    assert (await report(gut))["unanswered_conversations"] == 1


@pytest.mark.parametrize(
    "since",
    ["yesterday", "7x", "-7d", "", "2026-11-22T09:00:00", "2026-13-01T00:00:00Z", "99999999999d"],
)
async def test_a_bad_since_is_400_with_a_reason(gut: GatewayUnderTest, since: str) -> None:
    response = await gut.admin.get("/admin/reports/service", params={"since": since})
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "bad_since"
    assert "RFC 3339" in error["message"]


async def test_a_since_in_the_future_is_400(gut: GatewayUnderTest) -> None:
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await gut.admin.get("/admin/reports/service", params={"since": future})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_since"
