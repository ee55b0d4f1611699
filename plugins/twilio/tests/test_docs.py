"""The docs name every `send:` key of the Twilio senders and every Twilio error code they
classify."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateway_twilio.send_settings import TwilioSendSettings, TwilioWhatsAppSendSettings
from gateway_twilio.sender import RATE_LIMITED, REFUSED

DOCS = Path(__file__).resolve().parents[3] / "docs"
CHANNEL_PAGE = (DOCS / "channels" / "twilio.md").read_text(encoding="utf-8")
OUTBOUND = (DOCS / "outbound.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("model", [TwilioSendSettings, TwilioWhatsAppSendSettings])
def test_every_send_key_is_in_the_channel_page(model: type[TwilioSendSettings]) -> None:
    keys = [field.alias or name for name, field in model.model_fields.items() if name != "type"]
    assert [key for key in keys if f"`{key}`" not in CHANNEL_PAGE] == []


def test_every_classified_error_code_is_in_the_outbound_page() -> None:
    assert [code for code in [*REFUSED, *RATE_LIMITED] if str(code) not in OUTBOUND] == []
