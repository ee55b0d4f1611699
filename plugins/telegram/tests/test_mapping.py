"""How each kind of Update and Message maps: files, photos, contacts, bots, edits, threads."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from gateway_telegram import MESSAGE_UPDATES, TelegramChannel
from gateway_telegram.content import MEDIA_TYPES
from telegram_cases import RECEIVED, SETTINGS, telegram_request

from gateway.errors import PayloadError
from gateway.schema import Interaction
from gateway.testing import make_channel

USER = {"id": 987654321, "is_bot": False, "first_name": "Ana", "username": "ana_r"}
CHAT = {"id": 987654321, "first_name": "Ana", "type": "private"}
SIZES = [
    {
        "file_id": f"photo-{w}",
        "file_unique_id": f"u-{w}",
        "file_size": w * 10,
        "width": w,
        "height": h,
    }
    for w, h in ((90, 67), (320, 240), (800, 600), (1280, 960))
]


def parse(update: dict[str, Any], *, region: str = "US") -> list[Interaction]:
    channel = make_channel(TelegramChannel, SETTINGS, clock=lambda: RECEIVED, default_region=region)
    return channel.parse(telegram_request(json.dumps(update).encode()))


def one_message(message: dict[str, Any], key: str = "message") -> Interaction:
    base = {"message_id": 10, "from": USER, "chat": CHAT, "date": 1759312345}
    [interaction] = parse({"update_id": 5, key: {**base, **message}})
    return interaction


def identities(interaction: Interaction) -> list[tuple[str, str]]:
    return [(identity.kind, identity.value) for identity in interaction.sender.identities]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_the_largest_photo_size_is_the_attachment_in_any_order(order: tuple[int, ...]) -> None:
    interaction = one_message({"photo": [SIZES[i] for i in order]})
    assert interaction.content is not None
    [attachment] = interaction.content.attachments
    assert attachment.size == 12800
    assert interaction.metadata["file_id"] == "photo-1280"
    assert interaction.metadata["file_unique_id"] == "u-1280"


@pytest.mark.parametrize("kind", [k for k in MEDIA_TYPES if k != "photo"])
def test_every_file_type_is_one_attachment_with_its_file_ids(kind: str) -> None:
    media = {
        "file_id": f"{kind}-id",
        "file_unique_id": f"{kind}-unique",
        "file_size": 2048,
        "mime_type": "application/octet-stream",
        "file_name": "x.bin",
    }
    interaction = one_message({kind: media, "caption": "see attached"})
    assert interaction.content is not None
    [attachment] = interaction.content.attachments
    assert (attachment.url, attachment.size, attachment.filename) == (None, 2048, "x.bin")
    assert interaction.content.text == "see attached"
    assert interaction.metadata["message_type"] == kind
    assert (interaction.metadata["file_id"], interaction.metadata["file_unique_id"]) == (
        f"{kind}-id",
        f"{kind}-unique",
    )


def test_an_animation_is_one_attachment_though_it_also_sets_document() -> None:
    gif = {"file_id": "gif-id", "file_unique_id": "gif-u", "mime_type": "video/mp4"}
    interaction = one_message({"animation": gif, "document": gif})
    assert interaction.content is not None
    assert len(interaction.content.attachments) == 1
    assert interaction.metadata["message_type"] == "animation"


@pytest.mark.parametrize(
    "media",
    [{"photo": []}, {"photo": [{"file_id": "x", "width": "1", "height": 1}]}, {"voice": {}}],
)
def test_a_file_without_its_id_or_sizes_is_a_payload_error(media: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        one_message(media)


@pytest.mark.parametrize(
    ("contact", "phone"),
    [
        ({"phone_number": "34612345678", "user_id": USER["id"]}, "+34612345678"),
        ({"phone_number": "+34 612 34 56 78", "user_id": USER["id"]}, "+34612345678"),
        ({"phone_number": "34612345678", "user_id": 555000111}, None),  # someone else's
        ({"phone_number": "34612345678"}, None),  # not a Telegram user's contact
        ({"phone_number": "unknown", "user_id": USER["id"]}, None),  # no phone at all
    ],
)
def test_only_the_senders_own_contact_becomes_a_phone_identity(
    contact: dict[str, Any], phone: str | None
) -> None:
    interaction = one_message({"contact": {"first_name": "Ana", **contact}})
    expected = [("telegram_user", "987654321")] + ([("phone", phone)] if phone else [])
    assert identities(interaction) == expected
    assert interaction.metadata["contact_phone_number"] == contact["phone_number"]
    assert interaction.metadata["message_type"] == "contact"


def test_a_bot_sender_is_nobodys_customer_even_with_its_own_contact() -> None:
    bot = {"id": 7012345678, "is_bot": True, "first_name": "Other bot"}
    contact = {"phone_number": "34612345678", "first_name": "B", "user_id": bot["id"]}
    interaction = one_message({"from": bot, "contact": contact})
    assert identities(interaction) == []
    assert interaction.metadata["from_is_bot"] == "true"
    assert interaction.metadata["from_id"] == "7012345678"


@pytest.mark.parametrize("key", MESSAGE_UPDATES)
def test_edits_are_marked_and_new_messages_are_not(key: str) -> None:
    interaction = one_message({"edit_date": 1759312400, "text": "fixed"}, key)
    assert interaction.metadata["update_type"] == key
    assert ("edited" in interaction.metadata) == key.startswith("edited_")
    assert interaction.occurred_at.timestamp() == (
        1759312400 if key.startswith("edited_") else 1759312345
    )


def test_a_topic_message_threads_on_chat_and_topic() -> None:
    group = {"id": -1001987654321, "title": "Acme", "type": "supergroup", "is_forum": True}
    interaction = one_message({"chat": group, "message_thread_id": 7, "is_topic_message": True})
    assert interaction.thread_external_id == "-1001987654321:7"
    assert interaction.metadata["message_thread_id"] == "7"


def test_an_inline_button_press_has_no_chat_thread() -> None:
    query = {
        "id": "1",
        "from": USER,
        "inline_message_id": "AAA",
        "chat_instance": "2",
        "data": "go",
    }
    [interaction] = parse({"update_id": 6, "callback_query": query})
    assert interaction.thread_external_id is None
    assert interaction.content is not None
    assert interaction.content.text == "go"
    assert interaction.occurred_at == RECEIVED
    assert identities(interaction) == [("telegram_user", "987654321")]


@pytest.mark.parametrize(
    "kind",
    ["inline_query", "chosen_inline_result", "shipping_query", "pre_checkout_query", "poll",
     "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "message_reaction",
     "message_reaction_count", "chat_boost", "removed_chat_boost", "business_connection",
     "purchased_paid_media", "a_kind_telegram_adds_later"],
)  # fmt: skip
def test_unmapped_update_kinds_are_not_stored(kind: str) -> None:
    assert parse({"update_id": 7, kind: {"id": "1", "from": USER}}) == []


@pytest.mark.parametrize(
    "update",
    [{}, {"update_id": "5"}, {"update_id": True}, {"update_id": 5, "message": []},
     {"update_id": 5, "message": {"message_id": 1, "chat": CHAT}},
     {"update_id": 5, "message": {"message_id": 1, "date": 1, "chat": {"id": "x"}}},
     {"update_id": 5, "callback_query": {"id": "1"}}],
)  # fmt: skip
def test_an_unusable_update_is_a_payload_error(update: dict[str, Any]) -> None:
    with pytest.raises(PayloadError):
        parse(update)
