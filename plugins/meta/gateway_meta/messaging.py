"""The `messenger` and `instagram` channels: Messenger Platform `messaging[]` events.

Both products post the same envelope, `entry[].messaging[]`, each item with `sender.id`,
`recipient.id` and a `timestamp` in milliseconds. The customer is a page-scoped id (PSID) on
Messenger and an Instagram-scoped id (IGSID) on Instagram; the business is the Page or the
Instagram professional account, written as an identity of the same kind.

Mapped: messages (text, attachments, quick replies), postbacks, echoes of the business's own
messages (outbound), and delivery and read receipts (statuses). Other events (reactions, edits,
referrals, opt-ins, handovers, ...) are skipped.

An echo is an answer in the customer's conversation (direction `outbound`, the customer its
recipient), whoever sent it: the Page inbox, another tool. An echo of a message the gateway sent
(its `metadata` starts with `ECHO_PREFIX`) takes that message's `external_id`, so the core
stores it once, as the message it already has.

With `send:`, the channels also send replies (`MessengerSender`, `InstagramSender`): free-form
text within 24 hours of the customer's last message, with the tag `HUMAN_AGENT` within 7 days.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from gateway.plugin import WebhookRequest
from gateway.schema import Interaction
from gateway_meta.channel import MetaChannel
from gateway_meta.graph_send import ECHO_PREFIX, GraphSendSettings
from gateway_meta.messaging_sender import InstagramSender, MessengerSender
from gateway_meta.payload import Node, put
from gateway_meta.settings import InstagramSettings, MessengerSettings

__all__ = ["InstagramChannel", "MessagingChannel", "MessengerChannel"]

EVENT_LISTS: Final = ("messaging", "standby")
"""Where events are: `standby` holds the ones another app controls the conversation for, which
are still the customer's messages."""


class MessagingChannel(MetaChannel):
    """A channel of the Messenger Platform: the same events, another id kind."""

    identity_kind: ClassVar[str]
    """The kind of both parties' identities: page- or Instagram-scoped ids."""
    messaging_window = timedelta(hours=24)
    message_tags: ClassVar[Mapping[str, timedelta | None]] = {"HUMAN_AGENT": timedelta(days=7)}
    """`HUMAN_AGENT`: a person's reply up to 7 days after the customer's message."""

    def send_settings(self) -> GraphSendSettings | None:
        """Return the `send:` block, or None if this channel does not send."""
        send = getattr(self.settings, "send", None)
        return send if isinstance(send, GraphSendSettings) else None

    def parse_entry(self, req: WebhookRequest, entry: Node) -> list[Interaction]:
        """Return the interactions of the events of `entry`, in order."""
        return [
            interaction
            for key in EVENT_LISTS
            for event in entry.objects(key)
            for interaction in self._event(req, event, standby=key == "standby")
        ]

    def _event(self, req: WebhookRequest, event: Node, *, standby: bool) -> Iterator[Interaction]:
        metadata = {"standby": "true"} if standby else {}
        if (message := event.object("message")) is not None:
            if not message.flag("is_deleted"):  # an unsent message: its mid is already stored
                yield self._message(req, event, message, metadata)
        elif (postback := event.object("postback")) is not None:
            yield self._postback(req, event, postback, metadata)
        elif (delivery := event.object("delivery")) is not None:
            yield from self._receipts(req, event, delivery, "delivered", metadata)
        elif (read := event.object("read")) is not None:
            yield from self._receipts(req, event, read, "read", metadata)

    def _message(
        self, req: WebhookRequest, event: Node, message: Node, metadata: dict[str, str]
    ) -> Interaction:
        """A customer's message, or with `is_echo` one the business sent (outbound)."""
        echo = message.flag("is_echo")
        metadata = {**metadata, **_message_metadata(message)}
        external_id = message.required_id("mid")
        if echo:
            put(metadata, "app_id", message.id("app_id"))
            echoed = message.text("metadata")
            put(metadata, "echo_metadata", echoed)
            if echoed and (own := echoed.removeprefix(ECHO_PREFIX)) != echoed and own:
                metadata |= {"own_app": "true", "mid": external_id}
                external_id = own  # the gateway's message: stored once, under its own id
        attachments = []
        for index, attachment in enumerate(message.objects("attachments")):
            payload = attachment.object("payload")
            attachments.append({"url": payload.text("url") if payload else None})
            put(metadata, f"attachment_type_{index}", attachment.text("type"))
        return self.build(
            req,
            event,
            type="message",
            direction="outbound" if echo else "inbound",
            external_id=external_id,
            occurred_at=event.unix_millis("timestamp"),
            sender=self._party(self._id(event, "sender")),
            recipient=self._party(self._id(event, "recipient")),
            content={"text": message.text("text"), "attachments": attachments},
            metadata=metadata,
        )

    def _postback(
        self, req: WebhookRequest, event: Node, postback: Node, metadata: dict[str, str]
    ) -> Interaction:
        """A tap on a button (or an ice breaker): its title is what the customer "said"."""
        occurred_at = event.unix_millis("timestamp")
        customer, business = self._id(event, "sender"), self._id(event, "recipient")
        # `mid` is absent before Graph API v11: then the tap is known by who, and when.
        mid = postback.id("mid") or f"{customer}/{business}/postback/{event.integer('timestamp')}"
        put(metadata, "postback_payload", postback.text("payload"))
        return self.build(
            req,
            event,
            type="message",
            direction="inbound",
            external_id=mid,
            occurred_at=occurred_at,
            sender=self._party(customer),
            recipient=self._party(business),
            content={"text": postback.text("title")},
            metadata=metadata,
        )

    def _receipts(
        self, req: WebhookRequest, event: Node, receipt: Node, state: str, metadata: dict[str, str]
    ) -> Iterator[Interaction]:
        """Statuses of the business's messages: one per listed mid, else one for the watermark.

        A receipt names its messages by `mids` (deliveries, sometimes), by `mid` (Instagram
        reads) or only by a `watermark`: every message sent up to that time. A watermark names no
        message, so its status reports on `watermark:<ms>`. Meta's own example of a delivery has no
        `timestamp`: the watermark is the time then.
        """
        customer, business = self._id(event, "sender"), self._id(event, "recipient")
        mids = receipt.strings("mids")
        if mid := receipt.id("mid"):
            mids.append(mid)
        watermark = receipt.integer("watermark")
        if watermark is not None:
            metadata = {**metadata, "watermark": str(watermark)}
        common: dict[str, Any] = {
            "type": "status",
            "direction": "outbound",
            "occurred_at": _receipt_time(req, event, receipt),
            "sender": self._party(business),
            "recipient": self._party(customer),
            "metadata": metadata,
        }
        if not mids:
            if watermark is None:
                raise receipt.error("a receipt needs `mids`, `mid` or `watermark`", "watermark")
            yield self.build(
                req,
                event,
                external_id=f"{customer}/{business}/{state}/{watermark}",
                status={"of_external_id": f"watermark:{watermark}", "state": state},
                **common,
            )
        for mid in mids:
            yield self.build(
                req,
                event,
                external_id=f"{mid}/{state}",
                status={"of_external_id": mid, "state": state},
                **common,
            )

    def _id(self, event: Node, role: str) -> str:
        """Return the id of `sender` or `recipient` of `event`."""
        return event.required_object(role).required_id("id")

    def _party(self, scoped_id: str) -> dict[str, Any]:
        """Return a party known by one id of this channel's kind."""
        return {"identities": [{"kind": self.identity_kind, "value": scoped_id}]}


class MessengerChannel(MessagingChannel):
    """Messenger conversations of a Facebook Page; customers are page-scoped ids (PSIDs)."""

    type_name = "messenger"
    kind = "messenger"
    object_name = "page"
    identity_kind = "messenger_psid"
    settings_model = MessengerSettings
    sender = MessengerSender
    reply_kinds = frozenset({"messenger_psid"})


class InstagramChannel(MessagingChannel):
    """Instagram direct messages of a professional account; customers are IGSIDs."""

    type_name = "instagram"
    kind = "instagram"
    object_name = "instagram"
    identity_kind = "instagram_id"
    settings_model = InstagramSettings
    sender = InstagramSender
    reply_kinds = frozenset({"instagram_id"})


def _message_metadata(message: Node) -> dict[str, str]:
    metadata: dict[str, str] = {}
    if quick_reply := message.object("quick_reply"):
        put(metadata, "quick_reply_payload", quick_reply.text("payload"))
    if reply_to := message.object("reply_to"):
        put(metadata, "reply_to", reply_to.id("mid"))
        if story := reply_to.object("story"):  # Instagram: a reply to the business's story
            put(metadata, "reply_to_story_id", story.id("id"))
            put(metadata, "reply_to_story_url", story.text("url"))
    put(metadata, "sticker_id", message.id("sticker_id"))
    if message.flag("is_unsupported"):
        metadata["unsupported"] = "true"
    return metadata


def _receipt_time(req: WebhookRequest, event: Node, receipt: Node) -> datetime:
    """Return when a receipt happened: its `timestamp`, else its watermark, else now."""
    if event.value.get("timestamp") is not None:
        return event.unix_millis("timestamp")
    if receipt.value.get("watermark") is not None:
        return receipt.unix_millis("watermark")
    return req.received_at
