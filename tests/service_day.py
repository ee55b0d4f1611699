"""Drive a customer's contacts through a running gateway's `generic` channels, and read what
the service metrics (`/metrics`) and the service report (`/admin/reports/service`) say."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.testing import GatewayUnderTest
from tests.payloads import SECRET

EMAIL = "jane@example.com"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def contact(
    direction: str = "inbound",
    *,
    occurred_at: str | None = None,
    kind: str = "email",
    value: str = EMAIL,
    **fields: Any,
) -> dict[str, Any]:
    """Return a generic-channel body: from the customer, or (outbound) to them."""
    party = "sender" if direction == "inbound" else "recipient"
    body: dict[str, Any] = {
        "direction": direction,
        party: {"identities": [{"kind": kind, "value": value}]},
        "content": {"text": "My order has not arrived" if direction == "inbound" else "On it"},
        **fields,
    }
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return body


async def post(gut: GatewayUnderTest, channel: str, body: dict[str, Any], msg_id: str) -> None:
    """POST a signed body; the `webhook-id` is its external id, so a repeat is a redelivery."""
    response = await gut.post_signed(channel, body, SECRET, msg_id=msg_id)
    assert response.status == 200, await response.text()


async def scraped(gut: GatewayUnderTest) -> Samples:
    """Return every sample `GET /metrics` exposes, by name and labels."""
    response = await gut.client.get("/metrics")
    assert response.status == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value (0 if it is not exposed)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


async def report(gut: GatewayUnderTest, since: str = "7d") -> dict[str, Any]:
    """Return `GET /admin/reports/service?since=...` (asserting 200)."""
    response = await gut.admin.get("/admin/reports/service", params={"since": since})
    assert response.status == 200, await response.text()
    document: dict[str, Any] = await response.json()
    return document
