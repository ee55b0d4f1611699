"""What a WhatsApp Cloud API message says: text, media, location, replies, reactions.

Media come as ids, not URLs: `GET /{media-id}` on the Graph API (with the business's access
token) returns a short-lived download URL. So an attachment has `url=None`, and its id is kept in
`metadata["media_id"]` for whoever fetches it later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway_meta.payload import Node, put

__all__ = ["MEDIA_TYPES", "MessageContent", "message_content"]

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


@dataclass(slots=True)
class MessageContent:
    """The `content` fields and the metadata of one message."""

    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def as_content(self) -> dict[str, Any]:
        """Return the interaction's `content`."""
        return {"text": self.text, "attachments": self.attachments}


def message_content(message: Node, kind: str) -> MessageContent:
    """Return the content of `message`, whose `type` is `kind`.

    Types without a mapping below (`contacts`, `order`, `unsupported`, ...) keep no text; their
    `metadata["message_type"]` says what they were.
    """
    content = MessageContent(metadata={"message_type": kind})
    if kind in MEDIA_TYPES:
        _media(message.required_object(kind), kind, content)
    elif reader := _READERS.get(kind):
        reader(message.required_object(kind), content)
    if context := message.object("context"):
        put(content.metadata, "reply_to", context.id("id"))
        put(content.metadata, "reply_to_from", context.id("from"))
        if context.flag("forwarded") or context.flag("frequently_forwarded"):
            content.metadata["forwarded"] = "true"
    if referral := message.object("referral"):  # the ad a Click-to-WhatsApp message came from
        for key in ("source_type", "source_id", "source_url", "ctwa_clid"):
            put(content.metadata, f"referral_{key}", referral.text(key))
    if errors := message.objects("errors"):  # why an `unsupported` message could not be shown
        put(content.metadata, "error_code", errors[0].id("code"))
        put(content.metadata, "error_title", errors[0].text("title"))
    return content


def _text(text: Node, content: MessageContent) -> None:
    content.text = text.text("body")


def _media(media: Node, kind: str, content: MessageContent) -> None:
    content.text = media.text("caption")
    content.attachments.append(
        {"url": None, "content_type": media.text("mime_type"), "filename": media.text("filename")}
    )
    content.metadata["media_id"] = media.required_id("id")
    put(content.metadata, "media_sha256", media.text("sha256"))
    if media.flag("voice"):
        content.metadata["voice"] = "true"
    if media.flag("animated"):
        content.metadata["animated"] = "true"


def _location(location: Node, content: MessageContent) -> None:
    latitude, longitude = location.number("latitude"), location.number("longitude")
    name, address = location.text("name"), location.text("address")
    coordinates = None if latitude is None or longitude is None else f"{latitude!r},{longitude!r}"
    content.text = ", ".join(part for part in (name, address) if part) or coordinates
    put(content.metadata, "latitude", None if latitude is None else repr(latitude))
    put(content.metadata, "longitude", None if longitude is None else repr(longitude))
    put(content.metadata, "location_name", name)
    put(content.metadata, "location_address", address)
    put(content.metadata, "location_url", location.text("url"))


def _interactive(interactive: Node, content: MessageContent) -> None:
    kind = interactive.required_text("type")
    content.metadata["interactive_type"] = kind
    reply = interactive.required_object(kind) if kind in _REPLIES else None
    if reply is None:
        return
    if kind == "nfm_reply":  # a WhatsApp Flow's answers, as a JSON string
        content.text = reply.text("body")
        put(content.metadata, "flow_name", reply.text("name"))
        put(content.metadata, "flow_response_json", reply.text("response_json"))
        return
    content.text = reply.text("title")
    put(content.metadata, "reply_id", reply.id("id"))
    put(content.metadata, "reply_description", reply.text("description"))


def _button(button: Node, content: MessageContent) -> None:
    """A quick-reply button of a template message."""
    content.text = button.text("text")
    put(content.metadata, "button_payload", button.text("payload"))


def _reaction(reaction: Node, content: MessageContent) -> None:
    content.metadata["reaction_to"] = reaction.required_id("message_id")
    emoji = reaction.text("emoji")
    content.text = emoji
    if emoji is None:  # the customer took their reaction back
        content.metadata["reaction_removed"] = "true"


_REPLIES = frozenset({"button_reply", "list_reply", "nfm_reply"})
_READERS: dict[str, Callable[[Node, MessageContent], None]] = {
    "text": _text,
    "location": _location,
    "interactive": _interactive,
    "button": _button,
    "reaction": _reaction,
}
