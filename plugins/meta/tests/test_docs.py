"""docs/channels/meta.md names every setting, type and metadata key the channels produce."""

from __future__ import annotations

import re
from pathlib import Path

import gateway_meta
from gateway_meta import InstagramChannel, MessengerChannel, MetaSettings, WhatsAppCloudChannel
from gateway_meta.messaging_sender import InstagramSendSettings, MessengerSendSettings
from gateway_meta.sender import WhatsAppSendSettings
from gateway_meta.settings import InstagramSettings, MessengerSettings, WhatsAppSettings

from gateway.testing import keys_in_source, undocumented

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "meta.md"
METADATA_KEY = re.compile(
    r'put\([\w.]+, f?"([\w{}]+)"'  # put(metadata, "key", value)
    r'|metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|"(\w+)": (?:"true"|str\()'  # {"key": "true"}, {..., "key": str(value)}
    r'|metadata=\{"(\w+)"'  # MessageContent(metadata={"key": value})
)


def test_the_page_names_every_setting_type_and_metadata_key() -> None:
    keys = keys_in_source(gateway_meta, METADATA_KEY)
    assert {"message_type", "media_id", "watermark", "standby", "referral_"} <= keys
    missing = undocumented(
        DOC.read_text(encoding="utf-8"),
        metadata_keys=keys,
        settings=[
            MetaSettings,
            WhatsAppSettings,
            WhatsAppSendSettings,
            MessengerSettings,
            MessengerSendSettings,
            InstagramSettings,
            InstagramSendSettings,
        ],
        channels=[WhatsAppCloudChannel, MessengerChannel, InstagramChannel],
    )
    assert missing == [], f"{DOC.name} leaves out {missing}"
