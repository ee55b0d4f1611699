"""docs/backends/salesforce.md names every setting, field and picklist value the backend uses."""

from __future__ import annotations

from pathlib import Path

from gateway_salesforce import SalesforceSettings
from gateway_salesforce.mapping import CALL_TYPES, CASE_ORIGINS, TASK_SUBTYPES
from gateway_salesforce.org import requirements

from gateway.testing import undocumented

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "backends" / "salesforce.md"


def test_the_page_names_every_setting() -> None:
    missing = undocumented(DOC.read_text(encoding="utf-8"), settings=[SalesforceSettings])
    assert missing == [], f"{DOC.name} leaves out {missing}"


def test_the_page_names_every_field_and_value_it_writes() -> None:
    text = DOC.read_text(encoding="utf-8")
    settings = SalesforceSettings.model_validate(
        {
            "type": "salesforce",
            "instance_url": "https://x.my.salesforce.com",
            "client_id": "id",
            "client_secret": "s",
            "cases": True,
        }
    )
    needs = requirements(settings)
    assert [n.name for n in needs if f"`{n.name}`" not in text] == []
    custom = [n for n in needs if n.name.endswith("__c")]
    assert [n.name for n in custom if f"| `{n.name}` (" not in text] == []
    values = {*TASK_SUBTYPES.values(), *CALL_TYPES.values(), *CASE_ORIGINS.values()}
    assert sorted(v for v in values if f"`{v}`" not in text) == []


def test_the_example_config_is_linked() -> None:
    assert (ROOT / "config" / "examples" / "salesforce.yaml").exists()
    assert "config/examples/salesforce.yaml" in DOC.read_text(encoding="utf-8")
