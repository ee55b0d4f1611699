"""Slack message events as interactions: who wrote them, and what they are.

A message event is one of:

- a person's message (no `subtype`, or `file_share`, `thread_broadcast`, `me_message`): inbound,
  from the `slack_user` `TEAM:USER`;
- a message of this app (its `app_id` or `bot_profile.app_id` is the envelope's `api_app_id`, or
  its `user` is the app's bot user in `authorizations`): outbound, `own_app: true`;
- another bot's or integration's message (`bot_message`, or a `bot_id`): inbound with no
  identity, so it never creates or reaches a customer, `bot: true`;
- an edit (`message_changed`) or a deletion (`message_deleted`) of one of the above: stored as
  that author's interaction with `edit_of` / `delete_of` naming the original message's `ts`.

Other subtypes (joins, topic changes, ...) are not conversations and become nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from gateway_slack.payload import Node

__all__ = ["Envelope", "message_interactions"]

NEW_MESSAGE_SUBTYPES: Final = frozenset({None, "file_share", "thread_broadcast", "me_message"})
"""Subtypes of a person's new message."""
BOT_SUBTYPE: Final = "bot_message"
EDIT_SUBTYPE: Final = "message_changed"
DELETE_SUBTYPE: Final = "message_deleted"


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the `event_callback` envelope says about its event: its id, team and app."""

    event_id: str
    team_id: str | None
    app_id: str | None
    bot_users: frozenset[str]
    """The app's bot users (`authorizations[]` with `is_bot`): messages from them are ours."""

    @classmethod
    def of(cls, root: Node) -> Envelope:
        """Read the envelope of an `event_callback`."""
        bot_users = frozenset(
            user
            for authorization in root.objects("authorizations")
            if authorization.flag("is_bot") and (user := authorization.text("user_id"))
        )
        return cls(
            event_id=root.required_text("event_id"),
            team_id=root.text("team_id"),
            app_id=root.text("api_app_id"),
            bot_users=bot_users,
        )

    def is_own(self, message: Node) -> bool:
        """Return True if this app wrote `message`."""
        profile = message.object("bot_profile")
        app_ids = {message.text("app_id"), profile.text("app_id") if profile else None}
        return (self.app_id is not None and self.app_id in app_ids) or (
            message.text("user") in self.bot_users
        )


def message_interactions(envelope: Envelope, event: Node) -> Iterator[dict[str, Any]]:
    """Yield the interaction fields of a `message` event (none for subtypes not mapped)."""
    subtype = event.text("subtype")
    if subtype in NEW_MESSAGE_SUBTYPES or subtype == BOT_SUBTYPE:
        yield _fields(envelope, event, event, subtype)
    elif subtype == EDIT_SUBTYPE:
        message = event.required_object("message")
        fields = _fields(envelope, event, message, subtype)
        fields["metadata"]["edit_of"] = message.required_text("ts")
        yield fields
    elif subtype == DELETE_SUBTYPE:
        previous = event.object("previous_message") or Node({}, event.where("previous_message"))
        fields = _fields(envelope, event, previous, subtype)
        fields["metadata"]["delete_of"] = event.required_text("deleted_ts")
        fields["content"] = None
        yield fields


def _fields(envelope: Envelope, event: Node, message: Node, subtype: str | None) -> dict[str, Any]:
    """Return the fields of the interaction `event` makes of `message` (the event itself, or
    the changed or deleted message it reports)."""
    channel = event.required_text("channel")
    metadata: dict[str, str] = {"channel": channel}
    _put(metadata, "channel_type", event.text("channel_type"))
    _put(metadata, "subtype", subtype)
    _put(metadata, "ts", message.text("ts"))
    _put(metadata, "client_msg_id", message.text("client_msg_id"))
    _put(metadata, "bot_id", message.text("bot_id"))
    team = message.text("user_team") or message.text("team") or envelope.team_id
    author = message.text("user")
    own = envelope.is_own(message)
    bot = not own and (message.text("bot_id") is not None or message.text("subtype") == BOT_SUBTYPE)
    sender: dict[str, Any] = {}
    if own:
        metadata["own_app"] = "true"
    elif bot:
        metadata["bot"] = "true"
        profile = message.object("bot_profile")
        sender["display_name"] = message.text("username") or (
            profile.text("name") if profile else None
        )
    if author and not bot:
        if team is None:
            raise event.error("the author's team is unknown: no `team` and no `team_id`", "team")
        sender["identities"] = [{"kind": "slack_user", "value": f"{team}:{author}"}]
    thread_ts = message.text("thread_ts")
    return {
        "type": "message",
        "direction": "outbound" if own else "inbound",
        "external_id": envelope.event_id,
        "thread_external_id": f"{channel}:{thread_ts}" if thread_ts else None,
        "occurred_at": event.ts("ts"),
        "sender": sender,
        "recipient": _recipient(envelope, message, team, own),
        "content": {"text": message.text("text"), "attachments": _attachments(message, metadata)},
        "metadata": metadata,
    }


def _recipient(envelope: Envelope, message: Node, team: str | None, own: bool) -> dict[str, Any]:
    """Return who a message is for, where the event says: the customer whose thread this app
    answers (`parent_user_id`). A person's message is to the workspace, not one person."""
    parent = message.text("parent_user_id")
    if own and team and parent and parent not in envelope.bot_users:
        return {"identities": [{"kind": "slack_user", "value": f"{team}:{parent}"}]}
    return {}


def _attachments(message: Node, metadata: dict[str, str]) -> list[dict[str, Any]]:
    """Return `files[]` as attachments (their `url_private` needs the bot token to fetch)."""
    attachments = []
    for index, file in enumerate(message.objects("files")):
        _put(metadata, f"file_id_{index}", file.text("id"))
        attachments.append(
            {
                "url": file.text("url_private"),
                "content_type": file.text("mimetype"),
                "filename": file.text("name"),
                "size": file.integer("size"),
            }
        )
    return attachments


def _put(metadata: dict[str, str], key: str, value: str | None) -> None:
    if value is not None:
        metadata[key] = value
