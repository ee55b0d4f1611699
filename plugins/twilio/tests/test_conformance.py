"""Each Twilio channel passes the conformance suite every channel plugin runs.

The cases are Twilio's recorded webhooks (tests/fixtures/*.txt), signed by the official SDK,
and the canonical interactions they must become (tests/fixtures/*.golden.json).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gateway_twilio import TwilioSmsChannel, TwilioVoiceChannel, TwilioWhatsAppChannel
from recordings import RECORDINGS, TOKEN, as_json, fixture, signed_json

from gateway.testing import ChannelCase, ChannelConformance


class _TwilioConformance(ChannelConformance):
    settings: ClassVar[Mapping[str, Any]] = {"auth_token": TOKEN}
    secret_fields = ("auth_token",)
    signature_headers = ("X-Twilio-Signature",)
    recordings: ClassVar[Sequence[str]]

    def cases(self) -> Sequence[ChannelCase]:
        return [RECORDINGS.case(name) for name in self.recordings]


class TestSmsConformance(_TwilioConformance):
    channel_type = TwilioSmsChannel
    recordings = (
        "sms_inbound",
        "mms_two_media",
        "status_sent",
        "status_delivered",
        "status_undelivered",
    )

    def cases(self) -> Sequence[ChannelCase]:
        # A JSON webhook carries the same parameters as one flat object, signed via bodySHA256.
        json_sms = ChannelCase(
            "sms_inbound as JSON",
            signed_json(as_json(fixture("sms_inbound"))),
            RECORDINGS.expected("sms_inbound"),
        )
        return [*super().cases(), json_sms]


class TestWhatsAppConformance(_TwilioConformance):
    channel_type = TwilioWhatsAppChannel
    recordings = (
        "whatsapp_text",
        "whatsapp_location",
        "whatsapp_button",
        "whatsapp_reply",
        "whatsapp_status_read",
    )


class TestVoiceConformance(_TwilioConformance):
    channel_type = TwilioVoiceChannel
    recordings = (
        "voice_incoming",
        "voice_status_completed",
        "voice_recording",
        "voice_transcription",
    )
