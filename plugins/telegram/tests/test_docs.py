"""docs/channels/telegram.md names every setting, update kind and metadata key the channel uses."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_telegram
from gateway_telegram import MESSAGE_UPDATES, TelegramChannel, TelegramSettings
from gateway_telegram.content import MEDIA_TYPES

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "telegram.md"
SOURCE = Path(gateway_telegram.__file__).parent
METADATA_KEY = re.compile(
    r'put\([\w.]+, "(\w+)"'  # put(metadata, "key", value)
    r'|metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|\{"(\w+)": '  # {"key": value, ...} starting a metadata dict
)


def metadata_keys() -> set[str]:
    """Return the metadata keys the source writes."""
    keys = set()
    for path in SOURCE.glob("*.py"):
        for match in METADATA_KEY.finditer(path.read_text(encoding="utf-8")):
            keys.add(next(group for group in match.groups() if group))
    return keys - {"url", "kind", "display_name", "text"}  # attachments, identities, parties


def test_every_metadata_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = metadata_keys()
    assert {"update_type", "message_type", "edited", "file_id", "file_unique_id"} <= keys
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert missing == [], f"undocumented metadata keys in {DOC.name}: {missing}"


def test_every_setting_type_and_update_kind_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for field in TelegramSettings.model_fields:
        if field != "type":
            assert f"| `{field}` |" in text
    assert f"| `{TelegramChannel.type_name}` | `{TelegramChannel.kind}` |" in text
    for kind in (*MESSAGE_UPDATES, "callback_query", *MEDIA_TYPES):
        assert f"`{kind}`" in text
