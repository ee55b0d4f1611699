"""The Slack channel passes the conformance suite every channel plugin runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from gateway_slack import SlackChannel
from slack_cases import RECORDINGS, SETTINGS

from gateway.testing import ChannelCase, ChannelConformance


class TestSlackConformance(ChannelConformance):
    channel_type = SlackChannel
    settings: ClassVar[Mapping[str, Any]] = SETTINGS
    secret_fields = ("signing_secret",)
    signature_headers = ("X-Slack-Signature", "X-Slack-Request-Timestamp")

    def cases(self) -> Sequence[ChannelCase]:
        """Return every recorded request with its golden interactions."""
        return RECORDINGS.cases()
