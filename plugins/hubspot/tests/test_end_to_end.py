"""End to end: one customer on five channels, through a running gateway, into the fake HubSpot.

`gateway.testing.Journey` posts an SMS and a call (Twilio), a WhatsApp message (Meta's Cloud API),
a web-chat message carrying the phone and an e-mail address (the `generic` channel) and an e-mail
(Postmark), each signed the provider's way, to `gateway serve` (a real subprocess); the `hubspot`
backend delivers them to `FakeHubSpot`. The outcome must be one contact holding the phone and the
e-mail, five engagements of the right types associated to it, and one ticket. A second run adds
30% of 503s, a few 429s and a SIGKILL of the gateway midway (restarted on the same database): the
outcome must be the same, each engagement written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN
from fake_hubspot import FakeHubSpot

from gateway.testing import GatewayProcess, Journey

for plugin in Journey.PLUGINS:
    pytest.importorskip(plugin)

JOURNEY = Journey()
DELIVERY_FAULTS = r"^/crm/v3/objects/\w+/|^/crm/v4/associations/.*/batch/"
"""Where faults go: the delivery path. The backend's start-up and its health check (one
`GET /crm/v3/objects/contacts`) meet a healthy HubSpot: `/readyz`, which the restart waits for,
reports them."""


def config(crm: FakeHubSpot) -> dict[str, Any]:
    return {
        "channels": JOURNEY.channels(),
        "backends": {
            "hubspot": {
                "type": "hubspot",
                "token": TOKEN,
                "base_url": crm.url,
                "tickets": True,
                "timeout": "2s",
                "requests_per_10s": 150,
                "retry": {"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": 1000},
                "circuit": {"failure_threshold": 1000},
            }
        },
    }


@pytest.fixture
async def crm() -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot(token=TOKEN, limit_per_10s=190)
    async with fake:
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, crm: FakeHubSpot) -> Iterator[GatewayProcess]:
    process = GatewayProcess.configure(tmp_path, config(crm))
    yield process
    process.close()


def assert_one_history(crm: FakeHubSpot) -> None:
    """One contact with the phone and the e-mail; five engagements on it and on one ticket."""
    crm.assert_ok()
    [contact] = crm.of_type("contacts")
    assert contact.properties["phone"] == JOURNEY.phone
    assert contact.properties["email"] == JOURNEY.email
    assert (contact.properties["firstname"], contact.properties["lastname"]) == ("Jane", "Doe")
    kinds = sorted(
        (t, o.properties.get("hs_communication_channel_type", "")) for t, o in crm.engagements()
    )
    assert kinds == [
        ("calls", ""),
        ("communications", "SMS"),
        ("communications", "WHATS_APP"),
        ("emails", ""),
        ("notes", ""),
    ]
    [ticket] = crm.of_type("tickets")
    assert crm.associated("tickets", ticket.id, "contacts") == {contact.id}
    for object_type, engagement in crm.engagements():
        assert crm.associated(object_type, engagement.id, "contacts") == {contact.id}
        assert crm.associated(object_type, engagement.id, "tickets") == {ticket.id}
    [(_, phone_call)] = [(t, o) for t, o in crm.engagements() if t == "calls"]
    assert phone_call.properties["hs_call_status"] == "COMPLETED"
    assert phone_call.properties["hs_call_duration"] == "63000"


async def test_one_customer_on_five_channels_is_one_contact_with_five_engagements(
    gateway: GatewayProcess, crm: FakeHubSpot
) -> None:
    await asyncio.to_thread(gateway.start)
    await JOURNEY.post_all(gateway)
    await JOURNEY.delivered(gateway)
    assert_one_history(crm)


async def test_faults_and_a_sigkill_still_write_each_record_once(
    gateway: GatewayProcess, crm: FakeHubSpot
) -> None:
    await asyncio.to_thread(gateway.start)
    crm.rate_limit(3, retry_after=1, path=DELIVERY_FAULTS)
    crm.fail_fraction(0.3, path=DELIVERY_FAULTS, seed=12)
    await JOURNEY.post_all_with_sigkill(gateway, crm.engagements)
    await JOURNEY.delivered(gateway)
    assert crm.faults_served >= 5, "the faults should have been served"
    writes = crm.requests_to("POST", r"/batch/upsert$")
    assert len(writes) > len(JOURNEY.webhooks()), "some writes should have gone twice"
    assert_one_history(crm)
