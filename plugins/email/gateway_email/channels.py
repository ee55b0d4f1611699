"""The e-mail channels: `sendgrid-inbound`, `mailgun-inbound` and `postmark-inbound`."""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any, ClassVar, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from gateway.errors import SignatureError
from gateway.plugin import Channel, WebhookRequest
from gateway.schema import Interaction
from gateway_email import mailgun_signature
from gateway_email.auth import check_basic_auth
from gateway_email.forms import FORM, JSON, MULTIPART, digest, read_form
from gateway_email.mailgun import mailgun_email
from gateway_email.mailgun_events import mailgun_status, signature_fields
from gateway_email.mapping import email_fields
from gateway_email.message import Email
from gateway_email.postmark import postmark_email
from gateway_email.postmark_events import EVENT_TYPES, postmark_status
from gateway_email.reply import REPLY_SUBJECT, message_id
from gateway_email.send_settings import EmailSendSettings
from gateway_email.sender import EmailSender
from gateway_email.sendgrid import sendgrid_email
from gateway_email.sendgrid_events import check_event_signature, load_event_key, sendgrid_statuses
from gateway_email.settings import (
    BasicAuthSettings,
    EmailSettings,
    MailgunSettings,
    SendGridSettings,
)

__all__ = [
    "EmailChannel",
    "MailgunInboundChannel",
    "PostmarkInboundChannel",
    "SendGridInboundChannel",
]

SettingsT = TypeVar("SettingsT", bound=EmailSettings)


class EmailChannel(Channel[SettingsT]):
    """What every e-mail channel shares: one message per webhook, mapped the same way, and
    replies by e-mail (`EmailSender`) with a `send:` block."""

    kind = "email"
    sender = EmailSender
    reply_kinds = frozenset({"email"})

    def send_settings(self) -> EmailSendSettings | None:
        """Return the `send:` block: replies need nothing else from the channel."""
        return self.settings.send

    def reply_reference(self, answered: Interaction) -> str | None:
        """Return the answered e-mail's `Message-ID` (its `external_id`, when it had one)."""
        return message_id(answered.external_id)

    def reply_metadata(self, answered: Interaction) -> dict[str, str]:
        """Return the answered e-mail's subject (`reply_subject`): a reply without a subject of
        its own answers with `Re:` and it."""
        subject = answered.content.subject if answered.content else None
        return {REPLY_SUBJECT: subject} if subject else {}

    def message(self, req: WebhookRequest, email: Email, raw: Any) -> list[Interaction]:
        """Return the interaction of the inbound `email` (`raw`: the provider's fields)."""
        fields = email_fields(email, self.settings.inbound_addresses, req.received_at)
        return [self.interaction_from(req, fields, raw=raw)]


class _BasicAuthChannel(EmailChannel[BasicAuthSettings]):
    settings_model = BasicAuthSettings

    def verify(self, req: WebhookRequest) -> None:
        """Check the Basic auth credentials of the webhook URL."""
        assert self.settings.basic_auth is not None  # settings refuse none unless insecure
        check_basic_auth(req, self.settings.basic_auth)


class SendGridInboundChannel(EmailChannel[SendGridSettings]):
    """SendGrid Inbound Parse: mail to an MX-pointed host, posted as multipart/form-data,
    parsed (fields, `attachment1..N`) or raw (the whole MIME message in `email`); and the signed
    Event Webhook (JSON) of the replies sent through SendGrid."""

    type_name = "sendgrid-inbound"
    provider = "sendgrid"
    settings_model = SendGridSettings
    content_types: ClassVar[frozenset[str]] = frozenset({MULTIPART, JSON})

    @cached_property
    def _event_key(self) -> ec.EllipticCurvePublicKey | None:
        key = self.settings.event_webhook_key
        return None if key is None else load_event_key(key)

    def verify(self, req: WebhookRequest) -> None:
        """Check an Event Webhook post's ECDSA signature, else Inbound Parse's Basic auth."""
        if req.content_type != JSON:
            assert self.settings.basic_auth is not None  # settings refuse none unless insecure
            check_basic_auth(req, self.settings.basic_auth)
            return
        if self._event_key is None:
            raise SignatureError(
                "an Event Webhook post, but no event_webhook_key is set to verify it"
            )
        check_event_signature(self._event_key, req.headers, req.body)

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the message the post carries, or the replies' statuses of an Event Webhook."""
        if req.content_type == JSON:
            document = req.json()
            raw = document if self.settings.include_raw else None
            found = sendgrid_statuses(document, req.received_at)
            return [self.interaction_from(req, fields, raw=raw) for fields in found]
        form = read_form(req)
        email = sendgrid_email(form)
        return self.message(req, email, form.fields() if self.settings.include_raw else None)


class PostmarkInboundChannel(_BasicAuthChannel):
    """Postmark inbound: each message to the inbound stream's address, as JSON; and the
    Delivery and Bounce webhooks of the replies sent through Postmark."""

    type_name = "postmark-inbound"
    provider = "postmark"

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the message, or the reply's status, the webhook carries."""
        document = req.json()
        record = document.get("RecordType") if isinstance(document, dict) else None
        if isinstance(record, str) and record in EVENT_TYPES:
            fields = postmark_status(document, req.received_at)
            raw = document if self.settings.include_raw else None
            return [] if fields is None else [self.interaction_from(req, fields, raw=raw)]
        email = postmark_email(document)
        return self.message(req, email, document if self.settings.include_raw else None)


class MailgunInboundChannel(EmailChannel[MailgunSettings]):
    """Mailgun routes forwarding to the gateway: form fields (multipart with attachments),
    signed with the HTTP webhook signing key; and the event webhooks (JSON, signed the same
    way) of the replies sent through Mailgun."""

    type_name = "mailgun-inbound"
    provider = "mailgun"
    settings_model = MailgunSettings
    content_types: ClassVar[frozenset[str]] = frozenset({FORM, MULTIPART, JSON})

    @cached_property
    def _keys(self) -> tuple[str, ...]:
        return tuple(key.get_secret_value() for key in self.settings.signing_key)

    @cached_property
    def _replays(self) -> mailgun_signature.ReplayCache:
        return mailgun_signature.ReplayCache(self.settings.replay_cache_size, self.settings.max_age)

    def verify(self, req: WebhookRequest) -> None:
        """Check `signature` over `timestamp + token`, the timestamp's age and the token's use
        (a route post's form fields, or an event webhook's `signature` object)."""
        if req.content_type == JSON:
            timestamp, token, signature = signature_fields(req.json())
            body = hashlib.sha256(req.body).digest()
        else:
            form = read_form(req)
            timestamp, token, signature = (form.get(f) for f in ("timestamp", "token", "signature"))
            body = digest(form)
        now = self.ctx.clock()
        signed = mailgun_signature.check_signature(
            self._keys, timestamp, token, signature, now=now, max_age=self.settings.max_age
        )
        assert token is not None  # checked with the signature
        self._replays.check(token, body, signed, now)

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the message the post carries, or the reply's status an event webhook reports."""
        if req.content_type == JSON:
            document = req.json()
            fields = mailgun_status(document, req.received_at)
            raw = document if self.settings.include_raw else None
            return [] if fields is None else [self.interaction_from(req, fields, raw=raw)]
        form = read_form(req)
        email = mailgun_email(form)
        return self.message(req, email, form.fields() if self.settings.include_raw else None)
