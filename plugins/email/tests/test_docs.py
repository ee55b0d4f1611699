"""docs/channels/email.md names every setting, type and metadata key the channels produce."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_email
from gateway_email import (
    BasicAuthSettings,
    MailgunInboundChannel,
    MailgunSettings,
    PostmarkInboundChannel,
    SendGridInboundChannel,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "email.md"
SOURCE = Path(gateway_email.__file__).parent
METADATA_KEY = re.compile(
    r'metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|^    "\w+": "(\w+)",$',  # a provider field and its metadata key, in an _EXTRAS table
    re.MULTILINE,
)


def metadata_keys() -> set[str]:
    """Return the metadata keys the source writes."""
    keys = set()
    for path in SOURCE.glob("*.py"):
        for match in METADATA_KEY.finditer(path.read_text(encoding="utf-8")):
            keys.add(next(group for group in match.groups() if group))
    return keys


def test_every_metadata_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = metadata_keys() | {"automated"}
    assert {"full_text", "sender_is_ours", "postmark_message_id", "spf"} <= keys
    missing = sorted(key for key in keys if f"`{key}`" not in text)
    assert missing == [], f"undocumented metadata keys in {DOC.name}: {missing}"


def test_every_setting_and_type_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for model in (BasicAuthSettings, MailgunSettings):
        for field in model.model_fields:
            if field != "type":
                assert f"| `{field}` |" in text, field
    for channel in (SendGridInboundChannel, MailgunInboundChannel, PostmarkInboundChannel):
        assert f"| `{channel.type_name}` |" in text
