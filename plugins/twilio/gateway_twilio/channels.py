"""The Twilio channels: `twilio-sms`, `twilio-whatsapp` and `twilio-voice`."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from gateway.errors import SignatureError
from gateway.plugin import Channel, WebhookRequest, WebhookResponse
from gateway.schema import ChannelKind, ChannelRef, Interaction
from gateway_twilio import signature
from gateway_twilio.messaging import is_status_callback, message_fields, status_fields
from gateway_twilio.params import FORM, JSON, Params
from gateway_twilio.send_settings import TwilioSendSettings
from gateway_twilio.sender import TwilioSender, TwilioWhatsAppSender
from gateway_twilio.settings import (
    TwilioMessagingSettings,
    TwilioSettings,
    TwilioVoiceSettings,
    TwilioWhatsAppSettings,
)
from gateway_twilio.twiml import EMPTY_TWIML, TWIML_CONTENT_TYPE
from gateway_twilio.voice import voice_fields

__all__ = ["TwilioChannel", "TwilioSmsChannel", "TwilioVoiceChannel", "TwilioWhatsAppChannel"]

SettingsT = TypeVar("SettingsT", bound=TwilioSettings)
MessagingSettingsT = TypeVar("MessagingSettingsT", bound=TwilioMessagingSettings)


class TwilioChannel(Channel[SettingsT]):
    """What every Twilio channel shares: the signature, the parameters and the TwiML answer."""

    provider = "twilio"
    content_types: ClassVar[frozenset[str]] = frozenset({FORM, JSON})
    max_body_bytes: ClassVar[int | None] = 65_536
    """Twilio's webhooks are a few KiB: refuse anything far larger before checking it."""

    @cached_property
    def _tokens(self) -> tuple[str, ...]:
        return tuple(token.get_secret_value() for token in self.settings.auth_token)

    def signed_url(self, req: WebhookRequest) -> str:
        """Return the URL Twilio signed: `public_url` + path and query, or the URL as called."""
        base = self.settings.public_url
        if base is None:
            return req.url
        called = urlsplit(req.url)
        return base + (called.path or "/") + (f"?{called.query}" if called.query else "")

    def verify(self, req: WebhookRequest) -> None:
        """Check `X-Twilio-Signature` against the configured auth token(s)."""
        offered = req.headers.get(signature.SIGNATURE_HEADER)
        if not offered:
            raise SignatureError(f"missing {signature.SIGNATURE_HEADER} header")
        algorithm = signature.signature_algorithm(req.headers.get(signature.SETTINGS_HEADER))
        url = self.signed_url(req)
        if req.content_type == JSON:
            signature.check_body_hash(url, req.body)
            params = None
        else:
            params = Params(req.form.items() if req.form is not None else ()).values
        signature.check_signature(self._tokens, url, params, offered, algorithm)

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Answer with empty TwiML: Twilio takes no action and reports no error."""
        return WebhookResponse.text(EMPTY_TWIML, content_type=TWIML_CONTENT_TYPE)

    def build(self, req: WebhookRequest, params: Params, fields: dict[str, Any]) -> Interaction:
        """Return the interaction of `fields`, with the provider's parameters as `raw`."""
        raw = params.raw() if self.settings.include_raw else None
        return self.interaction_from(req, fields, raw=raw)

    def with_kind(self, interaction: Interaction, kind: ChannelKind) -> Interaction:
        """Return `interaction` reported under another channel kind (an MMS on an SMS channel)."""
        if kind == interaction.channel.kind:
            return interaction
        channel = ChannelRef(id=self.ctx.channel_id, kind=kind, provider=self.provider)
        return interaction.model_copy(update={"channel": channel})


class _MessagingChannel(TwilioChannel[MessagingSettingsT]):
    """A messaging channel: incoming messages and the status callbacks of those it sends
    (`sender`, with `send:`), which move them forward."""

    reply_kinds = frozenset({"phone"})

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the incoming message, or the status of an outbound one, `req` reports."""
        params = Params.of(req)
        if is_status_callback(params):
            return [self.build(req, params, status_fields(params, req.received_at))]
        message = self.build(req, params, message_fields(params, req.received_at))
        return [self.with_kind(message, self.message_kind(message))]

    def message_kind(self, message: Interaction) -> ChannelKind:
        """Return the channel kind an incoming message is reported under."""
        return self.kind

    def send_settings(self) -> TwilioSendSettings | None:
        """Return `send:` with its defaults: the channel's Auth Token and own webhook URL."""
        settings = self.settings
        send = settings.send
        if send is None:
            return None
        update: dict[str, Any] = {}
        if send.status_callback is None:
            update["status_callback"] = f"{settings.public_url}/webhooks/{self.ctx.channel_id}"
        if send.auth_token is None and settings.auth_token:
            update["auth_token"] = settings.auth_token[0]
        return send.model_copy(update=update)


class TwilioSmsChannel(_MessagingChannel[TwilioMessagingSettings]):
    """SMS and MMS to a Twilio number or Messaging Service, and their status callbacks.

    A message with media is reported with kind `mms`, its media as attachments. With `send:`,
    it also sends replies (`TwilioSender`, MMS for attachments) and its status callbacks move
    them forward.
    """

    type_name = "twilio-sms"
    kind = "sms"
    settings_model = TwilioMessagingSettings
    sender = TwilioSender

    def message_kind(self, message: Interaction) -> ChannelKind:
        """Return `mms` for a message with media, else `sms`."""
        return "mms" if message.content and message.content.attachments else "sms"


class TwilioWhatsAppChannel(_MessagingChannel[TwilioWhatsAppSettings]):
    """WhatsApp messages through a Twilio WhatsApp sender (or the sandbox), and their statuses.

    With `send:`, it also sends replies (`TwilioWhatsAppSender`): free-form within 24 hours of
    the customer's last message on the channel, Content templates (`HX…`) at any time.
    """

    type_name = "twilio-whatsapp"
    kind = "whatsapp"
    settings_model = TwilioWhatsAppSettings
    sender = TwilioWhatsAppSender
    messaging_window = timedelta(hours=24)
    sends_templates = True


class TwilioVoiceChannel(TwilioChannel[TwilioVoiceSettings]):
    """Calls to and from Twilio numbers: the incoming call, call status, recording and
    transcription callbacks, each a `call` interaction threaded by its call."""

    type_name = "twilio-voice"
    kind = "voice"
    settings_model = TwilioVoiceSettings

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the call event `req` reports."""
        params = Params.of(req)
        fields = voice_fields(params, req.received_at)
        return [self.build(req, params, fields)]

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Answer a call's webhooks with the configured TwiML, recording reports with none."""
        reports_media = any(
            i.call is not None and (i.call.recording_url or i.call.transcript) for i in stored
        )
        twiml = EMPTY_TWIML if reports_media or not stored else self.settings.twiml
        return WebhookResponse.text(twiml, content_type=TWIML_CONTENT_TYPE)
