"""docs/backends/zendesk.md names every setting, tag and call status the backend uses."""

from __future__ import annotations

from pathlib import Path

from gateway_zendesk import ZendeskSettings
from gateway_zendesk.mapping import FINAL_CALL_STATUSES, IDENTITY_TYPES

from gateway.testing import undocumented

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "backends" / "zendesk.md"


def test_the_page_names_every_setting() -> None:
    missing = undocumented(DOC.read_text(encoding="utf-8"), settings=[ZendeskSettings])
    assert missing == [], f"{DOC.name} leaves out {missing}"


def test_the_page_names_the_identity_types_and_the_marker() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert [t for t in IDENTITY_TYPES.values() if f"`{t}`" not in text] == []
    assert "[gateway ref <interaction id>]" in text
    assert "completed" in FINAL_CALL_STATUSES
    assert "`ringing`" in text


def test_the_example_config_is_linked() -> None:
    assert (ROOT / "config" / "examples" / "zendesk.yaml").exists()
    assert "config/examples/zendesk.yaml" in DOC.read_text(encoding="utf-8")
