"""`SlackChannel`: the Events API in, interactions out.

Slack POSTs JSON signed with the app's signing secret. `url_verification` (sent when the Request
URL is saved) is answered with its challenge once its signature verifies; an `event_callback`
carries one event, stored under the envelope's `event_id`, so Slack's retries (`X-Slack-Retry-Num`)
are stored once. Only message events become interactions (see `gateway_slack.events`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from gateway.errors import PayloadError, SignatureError
from gateway.plugin import Channel, WebhookRequest, WebhookResponse
from gateway.schema import Interaction
from gateway_slack.events import Envelope, message_interactions
from gateway_slack.payload import Node
from gateway_slack.sender import SlackSender, SlackSendSettings
from gateway_slack.settings import SlackSettings
from gateway_slack.signature import verify_signature

__all__ = ["SlackChannel"]


class SlackChannel(Channel[SlackSettings]):
    """A Slack app's Events API Request URL."""

    type_name = "slack"
    kind = "slack"
    provider = "slack"
    settings_model = SlackSettings
    sender = SlackSender
    reply_kinds = frozenset({"slack_user"})

    def send_settings(self) -> SlackSendSettings | None:
        """Return the `send:` block (replies through `chat.postMessage`), if set."""
        return self.settings.send

    def reply_thread(self, answered: Interaction) -> str | None:
        """Return the thread a reply goes into: the answered message's thread, else, for a
        message in a channel (not a DM), the thread the reply starts under it."""
        if answered.thread_external_id is not None:
            return answered.thread_external_id
        channel, ts = answered.metadata.get("channel"), answered.metadata.get("ts")
        if channel and ts and answered.metadata.get("channel_type") != "im":
            return f"{channel}:{ts}"
        return None

    @cached_property
    def _secrets(self) -> tuple[bytes, ...]:
        return tuple(secret.get_secret_value().encode() for secret in self.settings.signing_secret)

    def handshake(self, req: WebhookRequest) -> WebhookResponse | None:
        """Answer `url_verification` with `{"challenge": ...}`, but only once it verifies."""
        if req.method != "POST" or b"url_verification" not in req.body:
            return None
        try:
            body = req.json()
        except PayloadError:
            return None
        if not isinstance(body, dict) or body.get("type") != "url_verification":
            return None
        if not self.settings.insecure:
            try:
                self.verify(req)
            except SignatureError as exc:
                return _refuse(401, "bad_signature", str(exc))
        challenge = body.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            return _refuse(400, "bad_request", "url_verification without a challenge")
        return WebhookResponse.json({"challenge": challenge})

    def verify(self, req: WebhookRequest) -> None:
        """Check `X-Slack-Signature` over the timestamp and raw body, within five minutes."""
        verify_signature(self._secrets, req.headers, req.body, self.ctx.clock())

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the interaction of a message event; nothing for other events and envelopes."""
        root = Node.root(req.json())
        if root.required_text("type") != "event_callback":
            return []  # url_verification (answered by `handshake`), app_rate_limited, ...
        event = root.required_object("event")
        if event.required_text("type") != "message":
            return []  # reactions, app_mention (a copy of a message event), joins, ...
        envelope = Envelope.of(root)
        return [
            self._build(req, root, event, fields)
            for fields in message_interactions(envelope, event)
        ]

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Answer 200 with a small body: Slack only needs the status, within 3 seconds."""
        return WebhookResponse.json({"received": len(stored)})

    def _build(
        self, req: WebhookRequest, root: Node, event: Node, fields: dict[str, Any]
    ) -> Interaction:
        """Build the interaction (`raw`: the whole envelope); an invalid one is a 422."""
        try:
            return self.interaction_from(req, fields, raw=root.value)
        except PayloadError as exc:
            reason = f"{exc.field}: {exc.reason}" if exc.field else exc.reason
            raise PayloadError(reason, field=event.path, status=exc.status) from None


def _refuse(status: int, code: str, message: str) -> WebhookResponse:
    return WebhookResponse.json({"error": {"code": code, "message": message}}, status=status)
