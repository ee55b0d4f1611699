"""End to end: one customer on five channels, through a running gateway, into the fake org.

`gateway.testing.Journey` posts an SMS and a call (Twilio), a WhatsApp message (Meta's Cloud API),
a web-chat message carrying the phone and an e-mail address (the `generic` channel) and an e-mail
(Postmark), each signed the provider's way, to `gateway serve` (a real subprocess); the
`salesforce` backend (`cases: true`) delivers them to `FakeSalesforce`. The outcome must be one
Contact holding the name, the phone and the e-mail, one Case for the conversation and five Tasks
on both. A second run adds 30% of 503s, a few 429s and a SIGKILL of the gateway midway (restarted
on the same database): the outcome must be the same, each Task written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CLIENT_ID, CLIENT_SECRET, settings_block
from fake_salesforce import API_VERSION, FakeSalesforce

from gateway.testing import GatewayProcess, Journey

for plugin in Journey.PLUGINS:
    pytest.importorskip(plugin)

JOURNEY = Journey()
DELIVERY_FAULTS = rf"^/services/data/{API_VERSION}/(query|composite)"
"""Where faults go: the delivery path. The token, the start-up's describe and the health check
(`GET /limits`) meet a healthy org: `/readyz`, which the restart waits for, reports them."""


def config(org: FakeSalesforce) -> dict[str, Any]:
    backend = settings_block(
        org,
        cases=True,
        timeout="2s",
        retry={"initial_backoff": "50ms", "max_backoff": "200ms", "max_attempts": 1000},
        circuit={"failure_threshold": 1000},
    )
    return {"channels": JOURNEY.channels(), "backends": {"salesforce": backend}}


@pytest.fixture
async def org() -> AsyncIterator[FakeSalesforce]:
    fake = FakeSalesforce(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with fake:
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, org: FakeSalesforce) -> Iterator[GatewayProcess]:
    process = GatewayProcess.configure(tmp_path, config(org))
    yield process
    process.close()


def assert_one_history(org: FakeSalesforce) -> None:
    """One Contact with name, phone and e-mail; one Case; five Tasks on both."""
    org.assert_ok()
    [contact] = org.of_type("Contact")
    assert (contact["FirstName"], contact["LastName"]) == ("Jane", "Doe")
    assert (contact["Phone"], contact["Email"]) == (JOURNEY.phone, JOURNEY.email)
    [case] = org.of_type("Case")
    assert (case["ContactId"], case["Origin"]) == (contact["Id"], "Web")
    tasks = org.of_type("Task")
    assert len(tasks) == Journey.RECORDS
    assert sorted(t["TaskSubtype"] for t in tasks) == ["Call", "Email", "Task", "Task", "Task"]
    assert {(t["WhoId"], t["WhatId"], t["Status"]) for t in tasks} == {
        (contact["Id"], case["Id"], "Completed")
    }
    [call] = [t for t in tasks if t["TaskSubtype"] == "Call"]
    assert (call["CallType"], call["CallDurationInSeconds"]) == ("Inbound", 63)
    assert "Recording: https://api.twilio.com/" in call["Description"]
    assert len({t["Gateway_Interaction_Id__c"] for t in tasks}) == Journey.RECORDS


@pytest.mark.parametrize("trouble", [False, True], ids=["healthy", "faults-and-sigkill"])
async def test_one_customer_on_five_channels_is_one_contact_one_case_five_tasks(
    gateway: GatewayProcess, org: FakeSalesforce, trouble: bool
) -> None:
    await asyncio.to_thread(gateway.start)
    if trouble:
        org.rate_limit(3, retry_after=1, path=DELIVERY_FAULTS)
        org.fail_fraction(0.3, path=DELIVERY_FAULTS, seed=12)
        await JOURNEY.post_all_with_sigkill(gateway, lambda: org.of_type("Task"))
    else:
        await JOURNEY.post_all(gateway)
    await JOURNEY.delivered(gateway)
    if trouble:
        assert org.faults_served >= 5, "the faults should have been served"
        writes = org.requests_to("PATCH", r"/composite/sobjects/Task/")
        assert len(writes) > Journey.RECORDS, "some Task writes should have gone twice"
    assert_one_history(org)
