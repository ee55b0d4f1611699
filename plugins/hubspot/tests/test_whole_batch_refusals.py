"""A batch write HubSpot refuses as a whole for one bad input (it answers per input, 207, only
where it supports partial results) costs only that input's delivery: the others are written."""

from __future__ import annotations

from conftest import TOKEN, BackendMaker
from fake_hubspot import REFUSED_ITEM, FakeHubSpot

from gateway.plugin import Delivered, Delivery, Rejected
from gateway.testing import make_interaction


def sms(n: int) -> Delivery:
    """A delivery of one SMS from a customer of its own."""
    interaction = make_interaction(
        channel={"id": "sms", "kind": "sms", "provider": "twilio"},
        external_id=f"SM{n}",
        customer_id=f"cus_01KAXZ00000000000000000{n:03d}",
        sender={"identities": [{"kind": "phone", "value": f"+1555100{n:04d}"}]},
    )
    return Delivery(n, interaction, 1, ())


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
