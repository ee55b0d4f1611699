"""Receipts arrive out of order: a lower state never reaches a backend after a higher one."""

from __future__ import annotations

from typing import Any

from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET, webhook_backend
from tests.receiver import Receiver
from tests.waiting import eventually


def receipt(message_id: str, state: str) -> dict[str, Any]:
    return {
        "external_id": f"{message_id}/{state}",
        "type": "status",
        "direction": "outbound",
        "recipient": {"identities": [{"kind": "phone", "value": "+15551234567"}]},
        "status": {"of_external_id": message_id, "state": state},
    }


async def post(gut: GatewayUnderTest, body: dict[str, Any]) -> str:
    response = await gut.post_signed("sms", body, SECRET)
    assert response.status == 200, await response.text()
    return str((await response.json())["ids"][0])


async def test_late_receipts_are_stored_but_not_forwarded(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gut = await gateway_factory(
        {
            "channels": {"sms": {"type": "generic", "kind": "sms", "secret": SECRET}},
            "backends": {"hook": webhook_backend(receiver.url)},
        }
    )
    ids = {
        state: await post(gut, receipt("SM1", state))
        for state in ("delivered", "sent", "read", "failed")  # "sent" arrives late
    }
    other = await post(gut, receipt("SM2", "sent"))  # another message: its own ranking

    async def arrived() -> bool:
        return len(receiver.arrivals) >= 4

    await eventually(arrived)
    forwarded = [a.interaction.status for a in receiver.arrivals]
    assert [(s.of_external_id, s.state) for s in forwarded if s] == [
        ("SM1", "delivered"),
        ("SM1", "read"),
        ("SM1", "failed"),  # final: it may follow delivered when one of several devices fails
        ("SM2", "sent"),
    ]
    store = gut.gateway.store
    late = await store.get_interaction(ids["sent"])
    assert late is not None  # kept for the record
    assert await store.deliveries_of(ids["sent"]) == []
    assert len(await store.deliveries_of(other)) == 1
    assert receiver.problems == []
