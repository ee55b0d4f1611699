"""docs/channels/telegram.md names every setting, update kind and metadata key the channel uses."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_telegram
from gateway_telegram import MESSAGE_UPDATES, TelegramChannel, TelegramSettings
from gateway_telegram.content import MEDIA_TYPES

from gateway.testing import keys_in_source, undocumented

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "telegram.md"
METADATA_KEY = re.compile(
    r'put\([\w.]+, "(\w+)"'  # put(metadata, "key", value)
    r'|metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|\{"(\w+)": '  # {"key": value, ...} starting a metadata dict
)


NOT_METADATA = {"url", "kind", "display_name", "text"}
"""Keys of attachments, identities and parties that `METADATA_KEY` also finds."""


def test_the_page_names_every_setting_the_type_and_every_metadata_key() -> None:
    keys = keys_in_source(gateway_telegram, METADATA_KEY) - NOT_METADATA
    assert {"update_type", "message_type", "edited", "file_id", "file_unique_id"} <= keys
    missing = undocumented(
        DOC.read_text(encoding="utf-8"),
        metadata_keys=keys,
        settings=[TelegramSettings],
        channels=[TelegramChannel],
    )
    assert missing == [], f"{DOC.name} leaves out {missing}"


def test_every_update_and_media_kind_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in (*MESSAGE_UPDATES, "callback_query", *MEDIA_TYPES):
        assert f"`{kind}`" in text
