"""The channel contract: verify a provider's webhook and turn it into interactions."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from gateway.backend import Backend, SenderSettings
from gateway.errors import PayloadError
from gateway.request import WebhookRequest, WebhookResponse
from gateway.schema import ChannelKind, ChannelRef, Interaction
from gateway.unusable import UnusableIdentity, split_parties, unusable_metadata

__all__ = ["Channel", "ChannelContext", "ChannelSettings", "payload_error", "utc_now"]


def _ignore(identity: UnusableIdentity) -> None:
    """Count nothing: a channel outside a running gateway (tests, conformance)."""


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class ChannelSettings(BaseModel):
    """Settings every channel takes; a channel's `settings_model` subclasses this."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: str
    """The channel type, e.g. `generic` or `twilio-sms`."""
    include_raw: bool = False
    """Keep the provider's payload in each interaction's `raw` field."""
    insecure: bool = False
    """Accept webhooks without verifying them. Only for local experiments."""
    max_body_bytes: Annotated[int, Field(ge=1)] | None = None
    """Largest webhook body this channel accepts (never more than `server.max_body_bytes`);
    unset: the channel type's own limit, if it has one, else `server.max_body_bytes`."""


SettingsT = TypeVar("SettingsT", bound=ChannelSettings)


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the host gives a channel: its id, a clock, a logger and the phone region."""

    channel_id: str
    clock: Callable[[], datetime] = utc_now
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("gateway.channel"))
    default_region: str = "US"
    """`identity.default_region`: how to read phone numbers written without a country code."""
    on_unusable: Callable[[UnusableIdentity], None] = _ignore
    """Told of each identity `Channel.interaction` leaves out (the gateway counts them)."""


def payload_error(exc: ValidationError) -> PayloadError:
    """Return a 422 `PayloadError` naming the first invalid field of a pydantic error."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or None
    return PayloadError(first["msg"], field=where, status=422)


class Channel(ABC, Generic[SettingsT]):
    """A provider's webhooks in, canonical interactions out.

    `verify` and `parse` are pure: no I/O, no clock other than `ctx.clock`. The host owns the HTTP
    answer, deduplication and the durable commit, so every channel gets those for free.
    """

    type_name: ClassVar[str]
    """The YAML `type` of the channel, e.g. `twilio-sms`."""
    kind: ClassVar[ChannelKind]
    provider: ClassVar[str]
    settings_model: ClassVar[type[ChannelSettings]]
    content_types: ClassVar[frozenset[str]] = frozenset({"application/json"})
    """Media types a POST body may have; anything else is answered 415."""
    max_body_bytes: ClassVar[int | None] = None
    """The type's body limit when the settings name none (None: `server.max_body_bytes`).
    Bodies over it are refused 413 before any verification work."""
    sender: ClassVar[type[Backend[Any]] | None] = None
    """A channel type that can send (DESIGN §12): the `Backend` that sends outbound messages.
    Its settings come from the channel's `send:` block (`send_settings`); the delivery engine
    drives it as the target `channel:{channel_id}`."""
    reply_kinds: ClassVar[frozenset[str]] = frozenset()
    """The identity kinds the sender addresses (`phone` for SMS): a reply goes to the most
    recent of the customer's reply identities of one of these kinds."""
    messaging_window: ClassVar[timedelta | None] = None
    """Free-form text only this long after the customer's last inbound on the channel (WhatsApp,
    Messenger, Instagram: 24 h); None: no window."""
    message_tags: ClassVar[Mapping[str, timedelta | None]] = {}
    """Message tags the sender takes (`POST /admin/messages` `tag`), each with the window it
    allows instead of `messaging_window` (Messenger's `HUMAN_AGENT`: 7 days; None: any time)."""
    sends_templates: ClassVar[bool] = False
    """Whether the sender sends provider templates (WhatsApp's message templates, Twilio's
    Content templates): a request with a `template` for a channel without them is refused."""

    def __init__(self, ctx: ChannelContext, settings: SettingsT) -> None:
        self.ctx = ctx
        self.settings = settings

    def send_settings(self) -> SenderSettings | None:
        """Return the sender's settings (the `send:` block, completed from the channel's own
        settings), or None if this channel does not send."""
        return None

    def reply_reference(self, answered: Interaction) -> str | None:
        """Return the provider's id of the message a reply answers, which the outbound
        interaction carries as `metadata.reply_to` for the sender (to quote or thread it).

        Default: the interaction's `external_id`; override where the provider's event id is not
        its message id (Telegram's `update_id`)."""
        return answered.external_id

    def reply_metadata(self, answered: Interaction) -> dict[str, str]:
        """Return more of `answered` that a reply to it needs, added to the outbound
        interaction's `metadata` (e-mail: the subject to answer with `Re:`). Default: none."""
        return {}

    def reply_thread(self, answered: Interaction) -> str | None:
        """Return the thread a reply to `answered` goes into (the outbound interaction's
        `thread_external_id`). Default: `answered`'s own thread; override where a reply to a
        message outside any thread starts one (a Slack reply threads under the message)."""
        return answered.thread_external_id

    def handshake(self, req: WebhookRequest) -> WebhookResponse | None:
        """Answer a provider's verification challenge, or return None if `req` is not one."""
        return None

    @abstractmethod
    def verify(self, req: WebhookRequest) -> None:
        """Raise `SignatureError` unless `req` provably comes from the provider."""

    @abstractmethod
    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the interactions `req` carries; raise `PayloadError` if it is unusable."""

    def acknowledge(self, req: WebhookRequest, stored: list[Interaction]) -> WebhookResponse:
        """Return the provider's 2xx once `stored` is durable (duplicates carry the first id)."""
        return WebhookResponse()

    @cached_property
    def channel_ref(self) -> ChannelRef:
        """Return the `channel` field of this channel's interactions."""
        return ChannelRef(id=self.ctx.channel_id, kind=self.kind, provider=self.provider)

    def interaction(
        self,
        req: WebhookRequest,
        *,
        raw: JsonValue = None,
        asserted: bool = False,
        **fields: Any,
    ) -> Interaction:
        """Build an interaction received through this channel; invalid fields raise 422.

        Party identities given as `{"kind", "value"}` mappings, in the provider's spelling,
        are normalised here; one that names nobody (empty, a withheld caller, a malformed
        address) is left out of the party and kept in `metadata["unusable_identities"]`.
        `asserted` marks every identity asserted (`verified: false`), whatever it says.
        """
        return self.interaction_from(req, fields, raw=raw, asserted=asserted)

    def interaction_from(
        self,
        req: WebhookRequest,
        fields: Mapping[str, Any],
        *,
        raw: JsonValue = None,
        asserted: bool = False,
    ) -> Interaction:
        """Build an interaction from `fields` in one mapping, as `interaction` does from
        keywords; a channel that has them in a dict saves unpacking them into keywords."""
        fields, unusable = split_parties(fields, self.ctx.default_region, asserted=asserted)
        if unusable:
            fields["metadata"] = unusable_metadata(fields.get("metadata"), unusable)
        fields["channel"] = self.channel_ref
        fields["received_at"] = req.received_at
        fields["raw"] = raw if self.settings.include_raw else None
        try:
            # What `Interaction.model_validate` calls, without its option handling (~1 µs).
            built: Interaction = Interaction.__pydantic_validator__.validate_python(fields)
        except ValidationError as exc:
            raise payload_error(exc) from None
        for identity in unusable:
            self.ctx.on_unusable(identity)
        return built
