"""docs/channels/meta.md names every setting, type and metadata key the channels produce."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_meta
from gateway_meta import InstagramChannel, MessengerChannel, MetaSettings, WhatsAppCloudChannel

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "meta.md"
SOURCE = Path(gateway_meta.__file__).parent
METADATA_KEY = re.compile(
    r'put\([\w.]+, f?"([\w{}]+)"'  # put(metadata, "key", value)
    r'|metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|"(\w+)": (?:"true"|str\()'  # {"key": "true"}, {..., "key": str(value)}
    r'|metadata=\{"(\w+)"'  # MessageContent(metadata={"key": value})
)


def metadata_keys() -> set[str]:
    """Return the metadata keys the source writes; `referral_{key}` becomes `referral_`."""
    keys = set()
    for path in SOURCE.glob("*.py"):
        for match in METADATA_KEY.finditer(path.read_text(encoding="utf-8")):
            key = next(group for group in match.groups() if group)
            keys.add(re.sub(r"\{\w+\}", "", key))
    return keys


def test_every_metadata_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = metadata_keys()
    assert {"message_type", "media_id", "watermark", "standby", "referral_"} <= keys
    missing = sorted(key for key in keys if f"`{key}" not in text)
    assert missing == [], f"undocumented metadata keys in {DOC.name}: {missing}"


def test_every_setting_and_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for field in MetaSettings.model_fields:
        if field != "type":
            assert f"| `{field}` |" in text
    for channel in (WhatsAppCloudChannel, MessengerChannel, InstagramChannel):
        assert f"| `{channel.type_name}` | `{channel.kind}` |" in text
