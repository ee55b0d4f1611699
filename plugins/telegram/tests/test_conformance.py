"""The `telegram` channel passes the conformance suite every channel plugin runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pytest
from gateway_telegram import TelegramChannel
from telegram_cases import HEADER, RECORDINGS, SETTINGS, telegram_request

from gateway.errors import SignatureError
from gateway.testing import ChannelCase, ChannelConformance


class TestTelegramConformance(ChannelConformance):
    channel_type = TelegramChannel
    settings: ClassVar[Mapping[str, Any]] = SETTINGS
    secret_fields = ("secret_token",)
    signature_headers = (HEADER,)

    def cases(self) -> Sequence[ChannelCase]:
        """Return every recorded Update with its golden interactions."""
        return RECORDINGS.cases()

    def test_a_tampered_body_fails_verification(self) -> None:
        """Telegram signs no body: the secret token alone proves the sender. So a changed body
        with the right token verifies, and any body without it does not."""
        for recorded in self.cases():
            body = recorded.request.body.replace(b"Ana", b"Eve")
            channel = self.channel(recorded.request.received_at)
            channel.verify(telegram_request(body))
            for token in (None, "", SETTINGS["secret_token"] + "x"):
                with pytest.raises(SignatureError):
                    channel.verify(telegram_request(body, token=token))
