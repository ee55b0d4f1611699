"""docs/channels/slack.md names every setting and metadata key the channel produces."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_slack
from gateway_slack import SlackChannel, SlackSettings

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "slack.md"
SOURCE = Path(gateway_slack.__file__).parent
METADATA_KEY = re.compile(
    r'_put\(metadata, f?"([\w{}]+)"'  # _put(metadata, "key", value)
    r'|metadata"?\]?\["(\w+)"\] ='  # metadata["key"] = ..., fields["metadata"]["key"] = ...
    r'|metadata: dict\[str, str\] = \{"(\w+)"'  # metadata: dict[str, str] = {"key": ...}
)


def metadata_keys() -> set[str]:
    """Return the metadata keys the source writes; `file_id_{index}` becomes `file_id_`."""
    keys = set()
    for path in SOURCE.glob("*.py"):
        for match in METADATA_KEY.finditer(path.read_text(encoding="utf-8")):
            key = next(group for group in match.groups() if group)
            keys.add(re.sub(r"\{\w+\}", "", key))
    return keys


def test_every_metadata_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = metadata_keys()
    assert {"channel", "own_app", "bot", "file_id_", "edit_of", "delete_of"} <= keys
    missing = sorted(key for key in keys if f"`{key}" not in text)
    assert missing == [], f"undocumented metadata keys in {DOC.name}: {missing}"


def test_every_setting_and_the_type_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for field in SlackSettings.model_fields:
        if field != "type":
            assert f"| `{field}` |" in text
    assert f"| `{SlackChannel.type_name}` | `{SlackChannel.kind}` |" in text
