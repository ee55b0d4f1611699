"""The canonical interaction, schema "interaction/v1".

Every channel turns its provider's webhook into `Interaction` objects; every backend receives them.
Its JSON form (`Interaction.model_dump_json()`) is what generic consumers and the admin API see,
so the field names here are a public contract: add fields, never rename them.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "AUTOMATED",
    "CHANNEL_KINDS",
    "EARLIEST",
    "LATEST",
    "MAX_ATTACHMENTS",
    "MAX_DURATION_S",
    "MAX_ID",
    "MAX_IDENTITIES",
    "MAX_METADATA",
    "MAX_METADATA_KEY",
    "MAX_SHORT",
    "MAX_SIZE",
    "MAX_TEXT",
    "SCHEMA_VERSION",
    "STATUS_RANK",
    "Attachment",
    "CallInfo",
    "ChannelKind",
    "ChannelRef",
    "Content",
    "ConversationContext",
    "Direction",
    "Identity",
    "Interaction",
    "InteractionType",
    "Party",
    "StatusInfo",
    "StatusState",
    "in_range",
    "new_interaction_id",
]

SCHEMA_VERSION: Final = "interaction/v1"
AUTOMATED: Final = "automated"
"""The `metadata` key a channel sets (to the reason) on an inbound interaction a machine sent:
an auto-reply, a bounce, a mailing list. It joins the conversation but is never a repeat
contact, and leaves the conversation's unanswered state as it was; on an outbound interaction
(an auto-acknowledgement) it answers nothing either (`gateway.service_events`)."""

InteractionType = Literal["message", "call", "status"]
Direction = Literal["inbound", "outbound"]
ChannelKind = Literal[
    "sms", "mms", "whatsapp", "messenger", "instagram", "slack", "telegram",
    "email", "voice", "webchat", "other",
]  # fmt: skip
CHANNEL_KINDS: Final[tuple[str, ...]] = get_args(ChannelKind)
StatusState = Literal["queued", "sent", "delivered", "read", "failed"]
STATUS_RANK: Final[dict[str, int]] = {
    "queued": 0,
    "sent": 1,
    "delivered": 2,
    "read": 3,
    "failed": 4,
}
"""How far a message got: receipts arrive out of order, and a lower rank never replaces a higher
one (`failed` is final: it can follow `delivered` when one of several devices fails)."""

_ULID = r"[0-9A-HJKMNP-TV-Z]{26}"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DIGIT_PAIRS: Final = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
"""Every 10-bit value as its two Crockford base32 digits."""


def new_interaction_id() -> str:
    """Return a fresh ULID (48-bit millisecond time, 80 random bits, Crockford base32), the id
    (and idempotency key) of a new interaction.

    Written here rather than with `ulid.ULID` because it is on every request's path: two digits
    per 10 bits from a table, 10 digits of time then 16 of randomness, cost a third as much as
    base32-encoding the bytes and translating the alphabet.
    """
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10))
    pair = _DIGIT_PAIRS
    digits = (
        pair[ms >> 40], pair[ms >> 30 & 1023], pair[ms >> 20 & 1023], pair[ms >> 10 & 1023],
        pair[ms & 1023], pair[rand >> 70], pair[rand >> 60 & 1023], pair[rand >> 50 & 1023],
        pair[rand >> 40 & 1023], pair[rand >> 30 & 1023], pair[rand >> 20 & 1023],
        pair[rand >> 10 & 1023], pair[rand & 1023],
    )  # fmt: skip
    return "".join(digits)


EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST: Final = datetime(9999, 1, 1, tzinfo=UTC)
"""Timestamps lie strictly between these: year 1 (Go's zero time) and 9999 are refused, so no
arithmetic on a stored timestamp (conversation windows, retention) can overflow."""
MAX_DURATION_S: Final = 604_800
"""Longest call: one week."""
MAX_SIZE: Final = 2**40
"""Largest attachment size: 1 TiB."""
MAX_TEXT: Final = 1_048_576
"""Longest message text, HTML or transcript, in characters (1 Mi)."""
MAX_SHORT: Final = 4096
"""Longest other string: names, URLs, media types, statuses, errors, metadata values."""
MAX_ID: Final = 512
"""Longest provider id (`external_id`, threads, channel ids, identity values)."""
MAX_ATTACHMENTS: Final = 100
MAX_IDENTITIES: Final = 100
MAX_METADATA: Final = 64
"""Most `metadata` entries; each key is at most `MAX_METADATA_KEY` characters."""
MAX_METADATA_KEY: Final = 128
_MAX_COUNT: Final = 2**31 - 1


def in_range(value: datetime) -> datetime:
    """Return the aware `value` in UTC, or raise `ValueError` if outside (EARLIEST, LATEST).

    An offset on year 1 or 9999 can overflow the conversion itself: that is out of range too.
    """
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST < utc < LATEST:
        raise ValueError("timestamp must be after 1970-01-01 and before 9999-01-01 (UTC)")
    return utc


UtcDatetime = Annotated[
    AwareDatetime,
    Field(description="RFC 3339 timestamp with an offset; stored and sent in UTC."),
    AfterValidator(in_range),
]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Short = Annotated[str, Field(max_length=MAX_SHORT)]
ExternalId = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, use_attribute_docstrings=True
    )


class Identity(_Model):
    """One way to recognise a person: a phone number, an e-mail address or a provider id."""

    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
    """`phone` (E.164), `email` (lower case) or a provider-scoped kind such as `slack_user`."""
    value: ExternalId
    verified: StrictBool = True
    """Whether the provider authenticated it (a Twilio `From`, a Slack user, an e-mail that
    passed SPF or DKIM aligned with its `From`); false: asserted, typed by the customer or
    unproven. An asserted identity never merges customers (docs/identity.md)."""

    @field_validator("value")
    @classmethod
    def _check_value(cls, value: str, info: ValidationInfo) -> str:
        # A field validator, not a model one: it runs where the fields are validated, not
        # again on every `Identity` instance that a `Party` is given (a cached identity).
        kind = info.data.get("kind")
        if kind == "phone" and not _E164.match(value):
            raise ValueError(f"phone identity must be E.164 like +15551234567, got {value!r}")
        if kind == "email" and (value != value.lower() or "@" not in value):
            raise ValueError(f"email identity must be a lower-case address, got {value!r}")
        return value


class Party(_Model):
    """The sender or the recipient of an interaction."""

    display_name: Short | None = None
    identities: list[Identity] = Field(default_factory=list, max_length=MAX_IDENTITIES)


class Attachment(_Model):
    """A file that came with a message; `url` is where the provider serves it."""

    url: Short | None = None
    content_type: Short | None = None
    filename: Short | None = None
    size: Annotated[int, Field(ge=0, le=MAX_SIZE)] | None = None


class Content(_Model):
    """What a message says."""

    text: Text | None = None
    subject: Short | None = None
    html: Text | None = None
    attachments: list[Attachment] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class CallInfo(_Model):
    """Details of a voice call (interactions of type `call`)."""

    status: Short
    """Provider call status, e.g. `ringing`, `in-progress`, `completed`, `no-answer`."""
    duration_s: Annotated[int, Field(ge=0, le=MAX_DURATION_S)] | None = None
    recording_url: Short | None = None
    transcript: Text | None = None


class StatusInfo(_Model):
    """A delivery/read receipt for an earlier message (interactions of type `status`)."""

    of_external_id: ExternalId
    state: StatusState
    error: Short | None = None


class ChannelRef(_Model):
    """Which configured channel an interaction came through."""

    id: ExternalId
    kind: ChannelKind
    provider: ExternalId


class ConversationContext(_Model):
    """Where the interaction sits in the customer's cross-channel conversation."""

    conversation_channels: list[ChannelKind] = Field(max_length=len(CHANNEL_KINDS))
    conversation_size: Annotated[int, Field(ge=1, le=_MAX_COUNT)]
    repeat_contact: bool
    previous_channel: ChannelKind | None = None
    identity_claimed: bool = False
    """True when the interaction reached its customer through asserted identities only: the
    customer is claimed, not proven; show it as unverified and send no reply to it."""


class Interaction(_Model):
    """One message, call or status event, in the same shape whatever the channel."""

    model_config = ConfigDict(
        title="interaction/v1",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    schema_: Literal["interaction/v1"] = Field(default=SCHEMA_VERSION, alias="schema")
    id: str = Field(default_factory=new_interaction_id, pattern=f"^{_ULID}$")
    """ULID assigned by the gateway; also the idempotency key towards every backend."""
    type: InteractionType
    direction: Direction
    channel: ChannelRef
    external_id: ExternalId
    """The provider's id of this event; (channel.id, external_id) is the dedupe key."""
    thread_external_id: Annotated[str, Field(max_length=MAX_ID)] | None = None
    """The provider's thread: an e-mail Message-ID chain, a Slack thread_ts, ..."""
    occurred_at: UtcDatetime
    """When it happened, by the provider's clock."""
    received_at: UtcDatetime
    """When the gateway received the webhook."""
    sender: Party = Field(default_factory=Party)
    recipient: Party = Field(default_factory=Party)
    content: Content | None = None
    call: CallInfo | None = None
    status: StatusInfo | None = None
    customer_id: Annotated[str, Field(pattern=f"^cus_{_ULID}$")] | None = None
    conversation_id: Annotated[str, Field(pattern=f"^conv_{_ULID}$")] | None = None
    context: ConversationContext | None = None
    metadata: dict[Annotated[str, Field(max_length=MAX_METADATA_KEY)], Short] = Field(
        default_factory=dict, max_length=MAX_METADATA
    )
    """Provider extras worth keeping, as a flat string map."""
    raw: JsonValue | None = None
    """The provider payload, only when the channel sets `include_raw`."""

    @property
    def identity_claimed(self) -> bool:
        """True if the stored interaction reached its customer through asserted identities
        only (`context.identity_claimed`): nothing proves the sender is that customer, so show
        it as unverified, let nothing of it change the customer's records and reply to none of
        it. A plain property: not part of the serialised interaction."""
        return self.context is not None and self.context.identity_claimed

    @model_validator(mode="after")
    def _check_type_details(self) -> Interaction:
        if self.type == "call" and self.call is None:
            raise ValueError("an interaction of type 'call' needs 'call'")
        if self.type == "status" and self.status is None:
            raise ValueError("an interaction of type 'status' needs 'status'")
        if self.type != "status" and self.status is not None:
            raise ValueError("'status' is only for interactions of type 'status'")
        return self
