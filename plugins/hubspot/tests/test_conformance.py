"""The shared backend conformance suite, run against the fake HubSpot."""

from __future__ import annotations

from typing import Any, ClassVar

from fake_hubspot import FakeHubSpot
from gateway_hubspot import HubSpotBackend

from gateway.schema import Interaction
from gateway.testing import BackendConformance, FakeCRM

TOKEN = "pat-na1-conformance-0000-0000-000000000000"


def fake(crm: FakeCRM) -> FakeHubSpot:
    assert isinstance(crm, FakeHubSpot)
    return crm


class TestHubSpotConformance(BackendConformance):
    backend_type = HubSpotBackend
    secret = TOKEN
    rate_limit_default_s: ClassVar[float | None] = 10.0
    rejection: ClassVar[tuple[int, Any, str]] = (
        400,
        {
            "status": "error",
            "message": "Property values were not valid: hs_timestamp is required",
            "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf",
            "category": "VALIDATION_ERROR",
        },
        "Property values were not valid: hs_timestamp is required",
    )

    def make_crm(self) -> FakeCRM:
        return FakeHubSpot(token=TOKEN)

    def settings(self, crm: FakeCRM) -> dict[str, Any]:
        return {"type": "hubspot", "token": TOKEN, "base_url": crm.url, "tickets": True}

    def records(self, crm: FakeCRM) -> int:
        return len(fake(crm).engagements())

    def fail_item(self, crm: FakeCRM, interaction: Interaction) -> None:
        fake(crm).refused_interactions.add(interaction.id)
