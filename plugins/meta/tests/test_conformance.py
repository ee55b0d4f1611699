"""The three Meta channels pass the conformance suite every channel plugin runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gateway_meta import InstagramChannel, MessengerChannel, WhatsAppCloudChannel
from meta_cases import RECORDINGS, SETTINGS

from gateway.testing import ChannelCase, ChannelConformance


class MetaConformance(ChannelConformance):
    """What the three channels share: settings, secrets and the signature header."""

    settings: ClassVar[Mapping[str, Any]] = SETTINGS
    secret_fields = ("app_secret", "verify_token")
    signature_headers = ("X-Hub-Signature-256",)
    prefix: ClassVar[str]

    def cases(self) -> Sequence[ChannelCase]:
        """Return every recorded webhook of this channel with its golden interactions."""
        return RECORDINGS.cases(self.prefix)


class TestWhatsAppCloudConformance(MetaConformance):
    channel_type = WhatsAppCloudChannel
    prefix = "wa"


class TestMessengerConformance(MetaConformance):
    channel_type = MessengerChannel
    prefix = "messenger"


class TestInstagramConformance(MetaConformance):
    channel_type = InstagramChannel
    prefix = "instagram"
