"""Association type ids come from HubSpot's labels endpoint: a portal whose default types have
other ids than the documented ones gets those, and the fake refuses any other id."""

from __future__ import annotations

import fake_hubspot
import pytest
from conftest import BackendMaker
from fake_hubspot import FakeHubSpot

from gateway.plugin import Delivered, Delivery
from gateway.testing import customer_interactions


async def test_the_type_ids_are_the_ones_the_portal_lists(
    hubspot: FakeHubSpot, make_backend: BackendMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved = {pair: 5000 + n for n, pair in enumerate(fake_hubspot.DEFAULT_ASSOCIATIONS)}
    monkeypatch.setattr(fake_hubspot, "DEFAULT_ASSOCIATIONS", moved)
    backend = await make_backend(tickets=True)
    deliveries = [Delivery(n, i, 1, ()) for n, i in enumerate(customer_interactions(), start=1)]
    outcomes = await backend.deliver(deliveries)

    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    used = {(a[0], a[2]): a[4] for a in hubspot.associations}
    engagements = ("communications", "calls", "emails")  # the SMS, the call, the e-mail
    expected = {("tickets", "contacts")} | {
        (t, target) for t in engagements for target in ("contacts", "tickets")
    }
    assert used == {pair: moved[pair] for pair in expected}
