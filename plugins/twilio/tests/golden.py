"""Write `fixtures/*.golden.json` from what the channels make of each fixture today.

Run `python tests/golden.py` from the plugin folder after a deliberate change to the mapping, then
review every changed line: a golden file is the spec of its fixture, not a snapshot to accept.
"""

from __future__ import annotations

from typing import Any

from gateway_twilio.channels import TwilioSmsChannel, TwilioVoiceChannel, TwilioWhatsAppChannel
from recordings import RECORDINGS, TOKEN

from gateway.plugin import Channel

CHANNELS: dict[str, type[Channel[Any]]] = {
    "sms_": TwilioSmsChannel,
    "mms_": TwilioSmsChannel,
    "status_": TwilioSmsChannel,
    "whatsapp_": TwilioWhatsAppChannel,
    "voice_": TwilioVoiceChannel,
}
"""Which channel takes the fixtures named `PREFIX...`."""

if __name__ == "__main__":
    for prefix, channel_type in CHANNELS.items():
        written = RECORDINGS.write_goldens(channel_type, {"auth_token": TOKEN}, prefix)
        for name, count in written.items():
            print(f"{name}: {count} interaction(s)")
