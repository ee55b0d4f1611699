"""docs/backends/hubspot.md names every setting and every custom property the backend creates."""

from __future__ import annotations

from pathlib import Path

from gateway_hubspot import HubSpotSettings
from gateway_hubspot.mapping import CALL_STATUSES, COMMUNICATION_CHANNELS
from gateway_hubspot.portal import PROPERTIES

from gateway.testing import undocumented

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "backends" / "hubspot.md"


def test_the_page_names_every_setting() -> None:
    missing = undocumented(DOC.read_text(encoding="utf-8"), settings=[HubSpotSettings])
    assert missing == [], f"{DOC.name} leaves out {missing}"


def test_the_page_names_every_custom_property_and_value_it_writes() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = sorted({p.name for props in PROPERTIES.values() for p in props})
    assert [name for name in names if f"| `{name}` |" not in text] == []
    values = sorted({*COMMUNICATION_CHANNELS.values(), *CALL_STATUSES.values()})
    assert [value for value in values if value not in text] == []


def test_the_example_config_is_linked() -> None:
    assert (ROOT / "config" / "examples" / "hubspot.yaml").exists()
    assert "config/examples/hubspot.yaml" in DOC.read_text(encoding="utf-8")
