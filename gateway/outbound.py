"""Outbound messages (DESIGN §12): check a request, choose the channel, queue the send.

`queue_message` is what `POST /admin/messages` and `gateway send` share: it answers the same
message for a repeated `Idempotency-Key`, refuses what cannot be sent (409 with a code), and
otherwise commits the outbound interaction and its send job in one transaction (the ingest
commit path: dedupe, identity resolution, the customer's conversation, `repeat_contact`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from ulid import ULID

from gateway.channel import Channel
from gateway.runtime import Gateway
from gateway.schema import MAX_ID, MAX_SHORT, Content, Identity, Interaction, Party
from gateway.store.base import CommitItem, OutboundMessage, OutboundSend
from gateway.store.stored_rows import UnreadableInteraction

__all__ = [
    "MessageRequest",
    "Queued",
    "RefusedError",
    "Target",
    "Template",
    "queue_message",
    "request_hash",
]

_Key = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Body):
    """Who the message is for: a customer, a conversation, or the interaction it answers."""

    customer_id: _Key | None = None
    conversation_id: _Key | None = None
    interaction_id: _Key | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Target:
        if (
            sum(
                v is not None for v in (self.customer_id, self.conversation_id, self.interaction_id)
            )
            != 1
        ):
            raise ValueError("name exactly one of customer_id, conversation_id, interaction_id")
        return self


class Template(_Body):
    """A provider template (allowed outside a messaging window)."""

    name: _Key
    language: _Key | None = None
    parameters: list[str] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _parameters_fit(self) -> Template:
        if len(orjson.dumps(self.parameters)) > MAX_SHORT:
            raise ValueError(f"the template's parameters exceed {MAX_SHORT} bytes as JSON")
        return self


class MessageRequest(_Body):
    """The body of `POST /admin/messages`."""

    to: Target
    channel: _Key | None = None
    content: Content | None = None
    template: Template | None = None
    tag: _Key | None = None
    """A provider message tag that allows free-form text outside the messaging window
    (Messenger and Instagram: `HUMAN_AGENT`, within 7 days); only channels that take it."""

    @model_validator(mode="after")
    def _says_something(self) -> MessageRequest:
        content = self.content
        if self.template is None and (content is None or not (content.text or content.attachments)):
            raise ValueError("give content.text (or content.attachments), or a template")
        return self


class RefusedError(Exception):
    """A message that cannot be queued: answered with `status` and `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Queued:
    """The message a request names, and whether this request created it."""

    message: OutboundMessage
    created: bool


def request_hash(request: MessageRequest) -> str:
    """Return the digest telling a repeat of a request from another one with the same key."""
    canonical = orjson.dumps(request.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


async def queue_message(gateway: Gateway, key: str, request: MessageRequest) -> Queued:
    """Queue `request` under the `Idempotency-Key` `key`, or return the message it made before.

    Raises `RefusedError`: 404 unknown target, 409 `unverified_recipient` / `no_channel` /
    `outside_messaging_window`, 422 `idempotency_conflict`.
    """
    digest = request_hash(request)
    if (known := await _known(gateway, key, digest)) is not None:
        return known
    customer_id, preferred = await _target(gateway, request.to)
    channel, identity = await _choose(gateway, customer_id, preferred, request)
    answered = await _answered(gateway, request.to, customer_id, channel.ctx.channel_id)
    interaction = _interaction(gateway, channel, identity, key, request, answered)
    send = channel.send_settings()
    assert send is not None  # only channels with a sender are chosen
    item = CommitItem(
        interaction,
        gateway.router.backends_for(interaction),
        send=OutboundSend(
            f"msg_{ULID()}",
            key,
            digest,
            gateway.senders[channel.ctx.channel_id],
            resend_unknown=send.on_unknown_outcome == "resend",
        ),
    )
    (result,) = await gateway.store.commit([item])
    if result.duplicate:  # a concurrent request with the same key won
        if (known := await _known(gateway, key, digest)) is not None:
            return known
        raise RefusedError(
            422,
            "idempotency_conflict",
            f"the Idempotency-Key is the external id of interaction {result.interaction_id}"
            f" of channel {channel.ctx.channel_id}; use a fresh key",
        )
    if result.service is not None:
        gateway.metrics.service(result.service)
    gateway.delivery.notify([gateway.senders[channel.ctx.channel_id]])
    message = await gateway.store.message_by_key(key)
    assert message is not None
    return Queued(message, created=True)


async def _known(gateway: Gateway, key: str, digest: str) -> Queued | None:
    message = await gateway.store.message_by_key(key)
    if message is None:
        return None
    if message.request_hash != digest:
        raise RefusedError(
            422,
            "idempotency_conflict",
            f"this Idempotency-Key was used for message {message.id} with another body",
        )
    return Queued(message, created=False)


async def _target(gateway: Gateway, to: Target) -> tuple[str, list[str]]:
    """Return the customer a target names and the channels it prefers (best first)."""
    store = gateway.store
    if to.interaction_id is not None:
        stored = await store.get_interaction(to.interaction_id)
        if stored is None or isinstance(stored, UnreadableInteraction):
            raise RefusedError(404, "not_found", f"no readable interaction {to.interaction_id}")
        if stored.identity_claimed:
            raise RefusedError(
                409,
                "unverified_recipient",
                f"interaction {stored.id} reached its customer through asserted identities"
                " only: the customer is claimed, not proven; verify or link an identity first",
            )
        if stored.customer_id is None:
            raise RefusedError(409, "no_channel", f"interaction {stored.id} has no customer")
        preferred = [stored.channel.id]
        if stored.conversation_id is not None:
            latest = await store.latest_inbound(conversation_id=stored.conversation_id)
            preferred += [i.channel.id for i in latest]
        return stored.customer_id, preferred
    if to.conversation_id is not None:
        latest = await store.latest_inbound(conversation_id=to.conversation_id)
        customers = [i.customer_id for i in latest if i.customer_id]
        if not customers:
            raise RefusedError(404, "not_found", f"no conversation {to.conversation_id}")
        return customers[0], [i.channel.id for i in latest]
    assert to.customer_id is not None
    return to.customer_id, []


async def _choose(
    gateway: Gateway, customer_id: str, preferred: list[str], request: MessageRequest
) -> tuple[Channel[Any], Identity]:
    """Return the channel to send on and the reply identity it sends to (DESIGN §12)."""
    store = gateway.store
    identities = await store.reply_identities(customer_id)
    if identities is None:
        raise RefusedError(404, "not_found", f"no customer {customer_id}")
    latest = await store.latest_inbound(customer_id=customer_id)
    last_seen = {i.channel.id: i.occurred_at for i in latest}
    if request.channel is not None:
        if request.channel not in gateway.channels:
            raise RefusedError(404, "not_found", f"no channel {request.channel}")
        order = [request.channel]
    else:
        order = [*preferred, *last_seen, *gateway.senders]
    reachable: list[tuple[Channel[Any], Identity]] = []
    for channel_id in dict.fromkeys(order):
        channel = gateway.channels.get(channel_id)
        if channel is None or channel_id not in gateway.senders:
            continue
        if request.template is not None and not channel.sends_templates:
            continue
        if request.tag is not None and request.tag not in channel.message_tags:
            continue
        addresses = [i for i in identities if i.kind in channel.reply_kinds]
        if addresses:
            reachable.append((channel, addresses[-1]))
    if not reachable:
        which = f"channel {request.channel} cannot" if request.channel else "no channel can"
        needs = "templates and " if request.template is not None else ""
        needs += f"the tag {request.tag} and " if request.tag is not None else ""
        raise RefusedError(
            409,
            "no_channel",
            f"{which} send to customer {customer_id}: a sending channel needs {needs}one of"
            " the customer's verified or operator-linked identities of a kind it addresses",
        )
    now = gateway.clock()
    for channel, identity in reachable:
        if _window_open(channel, last_seen.get(channel.ctx.channel_id), now, request):
            return channel, identity
    names = ", ".join(channel.ctx.channel_id for channel, _ in reachable)
    raise RefusedError(
        409,
        "outside_messaging_window",
        f"free-form text is allowed only within the messaging window of the customer's last"
        f" inbound on {names}; send a template",
    )


def _window_open(
    channel: Channel[Any], last: datetime | None, now: datetime, request: MessageRequest
) -> bool:
    window = channel.messaging_window
    if request.tag is not None:
        window = channel.message_tags[request.tag]
    if window is None or request.template is not None:
        return True
    return last is not None and now - last <= window


async def _answered(
    gateway: Gateway, to: Target, customer_id: str, channel_id: str
) -> Interaction | None:
    """Return the inbound interaction the reply answers on `channel_id`: the one the target
    names if it came on that channel, else the customer's latest inbound there (or None)."""
    if to.interaction_id is not None:
        stored = await gateway.store.get_interaction(to.interaction_id)
        if isinstance(stored, Interaction) and stored.channel.id == channel_id:
            return stored
    latest = await gateway.store.latest_inbound(customer_id=customer_id)
    return next((i for i in latest if i.channel.id == channel_id), None)


def _interaction(
    gateway: Gateway,
    channel: Channel[Any],
    to: Identity,
    key: str,
    request: MessageRequest,
    answered: Interaction | None,
) -> Interaction:
    """Return the outbound interaction, in the thread of the message it answers; its metadata
    tells the sender what the channel's `reply_metadata` adds, that message's provider id
    (`reply_to`), the message tag (`tag`) and the template (`template`, `template_language`,
    `template_parameters`: a JSON array)."""
    now = gateway.clock()
    metadata: dict[str, str] = {}
    if answered is not None:
        metadata.update(channel.reply_metadata(answered))
        if reference := channel.reply_reference(answered):
            metadata["reply_to"] = reference
    if request.tag is not None:
        metadata["tag"] = request.tag
    if request.template is not None:
        metadata["template"] = request.template.name
        if request.template.language:
            metadata["template_language"] = request.template.language
        if request.template.parameters:
            metadata["template_parameters"] = orjson.dumps(request.template.parameters).decode()
    return Interaction(
        type="message",
        direction="outbound",
        channel=channel.channel_ref,
        external_id=key,
        occurred_at=now,
        received_at=now,
        recipient=Party(identities=[to]),
        content=request.content,
        thread_external_id=channel.reply_thread(answered) if answered else None,
        metadata=metadata,
    )
