"""What a Telegram Message says: text or caption, one file, a shared contact.

Files come as ids, not URLs: `getFile(file_id)` with the bot token gives a download path valid
for an hour. So an attachment has `url=None`, and its `file_id` (for `getFile`) and
`file_unique_id` (the same file across bots and time) are kept in `metadata`; nothing is
downloaded. A message carries at most one file; a photo comes in several sizes, and the largest
is the attachment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gateway_telegram.reader import Obj

__all__ = ["MEDIA_TYPES", "MessageContent", "message_content", "put"]

MEDIA_TYPES: Final = (
    "photo", "animation", "video", "video_note", "audio", "voice", "document", "sticker",
)  # fmt: skip
"""File fields of a Message, in the order read: an `animation` also sets `document` (for old
clients), so it comes first and the message is one animation."""
_OTHER_TYPES: Final = ("contact", "location", "venue", "poll", "dice")


@dataclass(slots=True)
class MessageContent:
    """The `content` fields and the metadata of one message."""

    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def as_content(self) -> dict[str, Any]:
        """Return the interaction's `content`."""
        return {"text": self.text, "attachments": self.attachments}


def put(metadata: dict[str, str], key: str, value: str | int | None) -> None:
    """Set `metadata[key]` to `value` (as text), unless there is no value."""
    if value is not None:
        metadata[key] = str(value)


def message_content(message: Obj) -> MessageContent:
    """Return the content of `message`; `metadata["message_type"]` says what it was."""
    content = MessageContent(text=message.text("text") or message.text("caption"))
    kind = next((key for key in MEDIA_TYPES if message.value.get(key) is not None), None)
    if kind is not None:
        _file(message, kind, content)
    elif content.text is None:
        kind = next((key for key in _OTHER_TYPES if message.value.get(key) is not None), "other")
    content.metadata["message_type"] = kind or "text"
    if (contact := message.object("contact")) is not None:
        put(content.metadata, "contact_phone_number", contact.text("phone_number"))
        put(content.metadata, "contact_name", full_name(contact))
        put(content.metadata, "contact_user_id", contact.integer("user_id"))
    if (reply_to := message.object("reply_to_message")) is not None:
        put(content.metadata, "reply_to_message_id", reply_to.integer("message_id"))
    put(content.metadata, "media_group_id", message.text("media_group_id"))
    return content


def full_name(person: Obj) -> str | None:
    """Return `first_name last_name` of a User or a Contact, or None."""
    return " ".join(n for n in (person.text("first_name"), person.text("last_name")) if n) or None


def _file(message: Obj, kind: str, content: MessageContent) -> None:
    if kind == "photo":
        sizes = message.objects("photo")
        if not sizes:
            raise message.error("a photo needs at least one PhotoSize", "photo")
        media = max(sizes, key=_area)
    else:
        media = message.required_object(kind)
    file_id = media.text("file_id")
    if file_id is None:
        raise media.error("required field is missing", "file_id")
    content.attachments.append(
        {
            "url": None,
            "content_type": media.text("mime_type"),
            "filename": media.text("file_name"),
            "size": media.integer("file_size"),
        }
    )
    content.metadata["file_id"] = file_id
    put(content.metadata, "file_unique_id", media.text("file_unique_id"))
    put(content.metadata, "duration_s", media.integer("duration"))


def _area(size: Obj) -> tuple[int, int]:
    """Order PhotoSizes by pixels, then bytes (the Bot API promises no order of the list)."""
    width, height = size.required_integer("width"), size.required_integer("height")
    return width * height, size.integer("file_size") or 0
