"""The shared backend conformance suite, run against the fake Zendesk."""

from __future__ import annotations

from typing import Any, ClassVar

from conftest import EMAIL
from fake_zendesk import FakeZendesk
from gateway_zendesk import ZendeskBackend

from gateway.schema import Interaction
from gateway.testing import BackendConformance, FakeCRM

TOKEN = "conformance-zendesk-api-token-0000000001"


def fake(crm: FakeCRM) -> FakeZendesk:
    assert isinstance(crm, FakeZendesk)
    return crm


class TestZendeskConformance(BackendConformance):
    backend_type = ZendeskBackend
    secret = TOKEN
    rejection: ClassVar[tuple[int, Any, str]] = (
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {
                "requester": [
                    {"description": "Requester: Name is too short", "error": "InvalidValue"}
                ]
            },
        },
        "Requester: Name is too short",
    )

    def make_crm(self) -> FakeCRM:
        return FakeZendesk(email=EMAIL, api_token=TOKEN)

    def settings(self, crm: FakeCRM) -> dict[str, Any]:
        return {
            "type": "zendesk",
            "subdomain": "shop",
            "email": EMAIL,
            "api_token": TOKEN,
            "base_url": crm.url,
        }

    def records(self, crm: FakeCRM) -> int:
        return len(fake(crm).all_comments())

    def fail_item(self, crm: FakeCRM, interaction: Interaction) -> None:
        fake(crm).refused_interactions.add(interaction.id)
