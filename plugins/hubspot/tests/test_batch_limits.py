"""Batches against HubSpot's limits: the gateway's own concurrency never reaches HubSpot's
10-second limit (concurrent batches of two backends configured with one token share one budget;
the fake refuses, failing the test, any request past its limit), and a batch write HubSpot
refuses as a whole for one bad input (it answers per input, 207, only where it supports partial
results) costs only that input's delivery: the others are written."""

from __future__ import annotations

import asyncio

from conftest import TOKEN, BackendMaker
from fake_hubspot import REFUSED_ITEM, FakeHubSpot

from gateway.plugin import Delivered, Delivery, Outcome, Rejected, Retry
from gateway.testing import make_interaction

BATCHES = 8


def sms(n: int) -> Delivery:
    """A delivery of one SMS from a customer of its own (a new contact each)."""
    interaction = make_interaction(
        channel={"id": "sms", "kind": "sms", "provider": "twilio"},
        external_id=f"SM{n}",
        customer_id=f"cus_01KAXZ00000000000000000{n:03d}",
        sender={"identities": [{"kind": "phone", "value": f"+1555100{n:04d}"}]},
    )
    return Delivery(n, interaction, 1, ())


async def test_concurrent_batches_of_two_backends_share_one_budget(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.limit_per_10s = 60  # starting both takes ~35 requests; each batch ~5 more
    backends = [await make_backend(timeout="1s") for _ in range(2)]
    outcomes: list[Outcome] = []
    for answered in await asyncio.gather(
        *(backends[n % 2].deliver([sms(n)]) for n in range(BATCHES))
    ):
        outcomes += answered

    held = [o for o in outcomes if isinstance(o, Retry)]
    assert held, "the shared budget should have held some batches back"
    assert all(isinstance(o, Delivered | Retry) for o in outcomes), outcomes
    assert all(o.after_s is not None and 0 < o.after_s <= 10 for o in held), held
    assert len(hubspot.requests) <= hubspot.limit_per_10s  # the fixture asserts no refusal too


async def test_one_bad_input_of_a_batch_refused_whole_rejects_only_its_delivery(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.partial_batches = False
    backend = await make_backend()
    batch = [sms(n) for n in range(1, 5)]
    hubspot.refused_interactions.add(batch[1].interaction.id)
    outcomes = await backend.deliver(batch)

    assert isinstance(outcomes[1], Rejected), outcomes
    assert REFUSED_ITEM in outcomes[1].reason
    assert TOKEN not in outcomes[1].reason
    assert all(isinstance(o, Delivered) for n, o in enumerate(outcomes) if n != 1), outcomes
    written = {o.properties["gateway_interaction_id"] for _, o in hubspot.engagements()}
    assert written == {d.interaction.id for d in batch} - {batch[1].interaction.id}
    assert len(hubspot.of_type("contacts")) == len(batch)
