"""docs/channels/slack.md names every setting and metadata key the channel produces."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_slack
from gateway_slack import SlackChannel, SlackSettings

from gateway.testing import keys_in_source, undocumented

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "slack.md"
METADATA_KEY = re.compile(
    r'_put\(metadata, f?"([\w{}]+)"'  # _put(metadata, "key", value)
    r'|metadata"?\]?\["(\w+)"\] ='  # metadata["key"] = ..., fields["metadata"]["key"] = ...
    r'|metadata: dict\[str, str\] = \{"(\w+)"'  # metadata: dict[str, str] = {"key": ...}
)


def test_the_page_names_every_setting_the_type_and_every_metadata_key() -> None:
    keys = keys_in_source(gateway_slack, METADATA_KEY)
    assert {"channel", "own_app", "bot", "file_id_", "edit_of", "delete_of"} <= keys
    missing = undocumented(
        DOC.read_text(encoding="utf-8"),
        metadata_keys=keys,
        settings=[SlackSettings],
        channels=[SlackChannel],
    )
    assert missing == [], f"{DOC.name} leaves out {missing}"
