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
    SendGridSettings,
)
from gateway_email.send_settings import EmailSendSettings

from gateway.plugin import BackendSettings
from gateway.testing import keys_in_source, undocumented

DOC = Path(__file__).resolve().parents[3] / "docs" / "channels" / "email.md"
METADATA_KEY = re.compile(
    r'metadata\["(\w+)"\] ='  # metadata["key"] = value
    r'|^    "\w+": "(\w+)",$',  # a provider field and its metadata key, in an _EXTRAS table
    re.MULTILINE,
)


def test_the_page_names_every_setting_type_and_metadata_key() -> None:
    keys = keys_in_source(gateway_email, METADATA_KEY) | {"automated"}
    assert {"full_text", "sender_is_ours", "postmark_message_id", "spf"} <= keys
    missing = undocumented(
        DOC.read_text(encoding="utf-8"),
        metadata_keys=keys,
        settings=[BasicAuthSettings, MailgunSettings, SendGridSettings],
        channels=[SendGridInboundChannel, MailgunInboundChannel, PostmarkInboundChannel],
    )
    assert missing == [], f"{DOC.name} leaves out {missing}"


def test_the_outbound_page_names_every_send_key() -> None:
    outbound = (DOC.parents[1] / "outbound.md").read_text(encoding="utf-8")
    section = outbound.split("## Set-up: e-mail", 1)[1].split("\n## ", 1)[0]
    key_cells = [line.split(" |", 1)[0] for line in section.splitlines() if line.startswith("| `")]
    fields = EmailSendSettings.model_fields
    own = [
        fields[name].alias or name for name in fields if name not in BackendSettings.model_fields
    ]
    missing = [name for name in own if not any(f"`{name}`" in cell for cell in key_cells)]
    assert missing == []
