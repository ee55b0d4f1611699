"""The `telegram` channel: one Bot API Update per webhook request.

Mapped: `message` and `channel_post` (new messages), `edited_message` and `edited_channel_post`
(stored as edits: `metadata.edited`, never as a new message of their own id), and
`callback_query` (a button press: its `data` is the text). Every other kind of update (member
changes, polls, reactions, ...) is answered 200 and not stored: nothing in it is a customer's
message, and any other answer makes Telegram send it again. `setWebhook`'s `allowed_updates`
keeps them from being sent at all (docs/channels/telegram.md).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Final

from gateway.plugin import Channel, WebhookRequest, normalize_phone
from gateway.schema import Interaction
from gateway_telegram.content import full_name, message_content, put
from gateway_telegram.reader import Obj
from gateway_telegram.secret import verify_secret_token
from gateway_telegram.sender import IDENTITY_KIND, TelegramSender, TelegramSendSettings
from gateway_telegram.settings import TelegramSettings

__all__ = ["IDENTITY_KIND", "MESSAGE_UPDATES", "TelegramChannel"]

MESSAGE_UPDATES: Final = ("message", "edited_message", "channel_post", "edited_channel_post")
"""Update fields holding a Message, in the order read; an Update carries exactly one."""
_EDITS: Final = frozenset({"edited_message", "edited_channel_post"})


class TelegramChannel(Channel[TelegramSettings]):
    """A Telegram bot's webhook, verified by the secret token given to `setWebhook`.

    Answered with the default empty 200: a JSON body would be read as a Bot API method call.
    With `send:`, it also sends replies (`TelegramSender`); Telegram has no delivery receipts.
    """

    type_name = "telegram"
    kind = "telegram"
    provider = "telegram"
    settings_model = TelegramSettings
    sender = TelegramSender
    reply_kinds = frozenset({IDENTITY_KIND})
    max_body_bytes = 1_048_576
    """An Update is a few KiB; a long text with entities and a replied-to message stays far
    below 1 MiB."""

    def send_settings(self) -> TelegramSendSettings | None:
        """Return the `send:` block: replies need nothing else from the channel."""
        return self.settings.send

    def reply_reference(self, answered: Interaction) -> str | None:
        """Return the answered message's `message_id` (its `external_id` is the update's id)."""
        return answered.metadata.get("message_id")

    @cached_property
    def _tokens(self) -> tuple[bytes, ...]:
        return tuple(token.get_secret_value().encode() for token in self.settings.secret_token)

    def verify(self, req: WebhookRequest) -> None:
        """Check `X-Telegram-Bot-Api-Secret-Token` against the configured token(s)."""
        verify_secret_token(self._tokens, req.headers)

    def parse(self, req: WebhookRequest) -> list[Interaction]:
        """Return the Update's interaction, or none for an update kind that is not mapped."""
        update = Obj.root(req.json())
        update_id = update.required_integer("update_id")
        for key in MESSAGE_UPDATES:
            if (message := update.object(key)) is not None:
                return [self._message(req, update, key, message)]
        if (query := update.object("callback_query")) is not None:
            return [self._callback_query(req, update, query)]
        self.ctx.logger.debug("telegram update %s has no mapped kind: not stored", update_id)
        return []

    def _message(self, req: WebhookRequest, update: Obj, key: str, message: Obj) -> Interaction:
        """A new or edited message; an edit happened at its `edit_date`."""
        content = message_content(message)
        metadata = {"update_type": key, **content.metadata}
        put(metadata, "message_id", message.required_integer("message_id"))
        edited = key in _EDITS
        if edited:
            metadata["edited"] = "true"
        sender = self._sender(message, metadata)
        if (contact := message.object("contact")) is not None:
            self._own_phone(message, contact, sender)
        return self.interaction(
            req,
            raw=update.value,
            type="message",
            direction="inbound",
            external_id=str(update.required_integer("update_id")),
            thread_external_id=_thread(message, metadata),
            occurred_at=message.unix_seconds(
                "edit_date" if edited and message.value.get("edit_date") is not None else "date"
            ),
            sender=sender,
            content=content.as_content(),
            metadata=metadata,
        )

    def _callback_query(self, req: WebhookRequest, update: Obj, query: Obj) -> Interaction:
        """A press of an inline keyboard button: its `data` is what the user "said".

        A CallbackQuery has no date of its own: it happened when it arrived.
        """
        metadata = {"update_type": "callback_query", "message_type": "callback_query"}
        put(metadata, "callback_query_id", query.text("id"))
        put(metadata, "chat_instance", query.text("chat_instance"))
        put(metadata, "inline_message_id", query.text("inline_message_id"))
        put(metadata, "game_short_name", query.text("game_short_name"))
        message = query.object("message")
        if message is not None:
            put(metadata, "message_id", message.required_integer("message_id"))
        return self.interaction(
            req,
            raw=update.value,
            type="message",
            direction="inbound",
            external_id=str(update.required_integer("update_id")),
            thread_external_id=None if message is None else _thread(message, metadata),
            occurred_at=req.received_at,
            sender=self._user(query.required_object("from"), metadata),
            content={"text": query.text("data")},
            metadata=metadata,
        )

    def _sender(self, message: Obj, metadata: dict[str, str]) -> dict[str, Any]:
        """Return who sent `message`: its user or, for a channel post, the chat posting it."""
        user = message.object("from")
        party = {} if user is None else self._user(user, metadata)
        if (chat := message.object("sender_chat")) is not None:
            put(metadata, "sender_chat_id", chat.required_integer("id"))
            party.setdefault("display_name", chat.text("title"))
        put(metadata, "author_signature", message.text("author_signature"))
        return party

    def _user(self, user: Obj, metadata: dict[str, str]) -> dict[str, Any]:
        """Return a User as a party; a bot (other bots, an anonymous admin) is nobody's customer."""
        user_id = user.required_integer("id")
        put(metadata, "from_username", user.text("username"))
        party: dict[str, Any] = {"display_name": full_name(user) or user.text("username")}
        if user.flag("is_bot"):
            metadata["from_is_bot"] = "true"
            put(metadata, "from_id", user_id)
        else:
            party["identities"] = [{"kind": IDENTITY_KIND, "value": str(user_id)}]
        return party

    def _own_phone(self, message: Obj, contact: Obj, sender: dict[str, Any]) -> None:
        """Add a shared contact's phone to the sender's identities if it is their own.

        Telegram sets `contact.user_id` from the phone number itself, so a contact whose user is
        the sender is the sender's phone; anyone else's contact stays in `metadata` only.
        """
        identities = sender.get("identities")
        user = message.object("from")
        phone = contact.text("phone_number")
        if not identities or user is None or phone is None:
            return
        if contact.integer("user_id") != user.required_integer("id"):
            return
        if normalized := normalize_phone(phone, self.ctx.default_region, international=True):
            identities.append({"kind": "phone", "value": normalized})


def _thread(message: Obj, metadata: dict[str, str]) -> str:
    """Return the message's thread: its chat, or `chat:thread` in a forum topic or reply thread."""
    chat = message.required_object("chat")
    chat_id = chat.required_integer("id")
    put(metadata, "chat_id", chat_id)
    put(metadata, "chat_type", chat.text("type"))
    put(metadata, "chat_title", chat.text("title"))
    thread_id = message.integer("message_thread_id")
    if thread_id is None:
        return str(chat_id)
    metadata["message_thread_id"] = str(thread_id)
    return f"{chat_id}:{thread_id}"
