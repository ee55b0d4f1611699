"""The gateway's own concurrency never reaches HubSpot's 10-second limit: concurrent batches of
two backends configured with one token share one budget (the fake refuses, failing the test,
any request past its limit)."""

from __future__ import annotations

import asyncio

from conftest import BackendMaker
from fake_hubspot import FakeHubSpot

from gateway.plugin import Delivered, Delivery, Outcome, Retry
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
