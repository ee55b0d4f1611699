"""The shared backend conformance suite, run against the fake Salesforce."""

from __future__ import annotations

from typing import Any, ClassVar

from conftest import CLIENT_ID, CLIENT_SECRET, settings_block
from fake_salesforce import FakeSalesforce
from gateway_salesforce import SalesforceBackend
from gateway_salesforce.mapping import task_key

from gateway.schema import Interaction
from gateway.testing import BackendConformance, FakeCRM


def fake(crm: FakeCRM) -> FakeSalesforce:
    assert isinstance(crm, FakeSalesforce)
    return crm


class TestSalesforceConformance(BackendConformance):
    backend_type = SalesforceBackend
    secret = CLIENT_SECRET
    rejection: ClassVar[tuple[int, Any, str]] = (
        400,
        [
            {
                "message": "Required fields are missing: [LastName]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["LastName"],
            }
        ],
        "REQUIRED_FIELD_MISSING: Required fields are missing: [LastName]",
    )

    def make_crm(self) -> FakeCRM:
        return FakeSalesforce(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)

    def settings(self, crm: FakeCRM) -> dict[str, Any]:
        return settings_block(fake(crm), cases=True)

    def records(self, crm: FakeCRM) -> int:
        return len(fake(crm).of_type("Task"))

    def fail_item(self, crm: FakeCRM, interaction: Interaction) -> None:
        fake(crm).refused_keys.add(task_key(interaction))
