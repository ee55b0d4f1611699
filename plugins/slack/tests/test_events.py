"""Which message events become what: people, our app, other bots, edits, deletes, the rest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gateway_slack import SlackChannel
from slack_cases import RECEIVED, SETTINGS, TEAM, fixture, signed_request

from gateway.errors import PayloadError
from gateway.schema import Interaction
from gateway.testing import make_channel

APP = "A0KRD7HC3"
BOT_USER = "U0BOT7HC3"


def parse(document: dict[str, Any]) -> list[Interaction]:
    channel = make_channel(SlackChannel, SETTINGS, channel_id="slack", clock=lambda: RECEIVED)
    return channel.parse(signed_request(json.dumps(document).encode()))


def envelope(**event: Any) -> dict[str, Any]:
    """Return the recorded DM with its event's fields replaced (None: removed)."""
    document: dict[str, Any] = json.loads(fixture("dm"))
    document["event"].update(event)
    document["event"] = {k: v for k, v in document["event"].items() if v is not None}
    return document


def identities(party: Any) -> list[tuple[str, str]]:
    return [(identity.kind, identity.value) for identity in party.identities]


@pytest.mark.parametrize(
    "mark",
    [
        {"app_id": APP, "bot_id": "B0BOT7HC3"},
        {"bot_id": "B0BOT7HC3", "bot_profile": {"id": "B0BOT7HC3", "app_id": APP}},
        {"user": BOT_USER},
        {"subtype": "bot_message", "bot_id": "B0BOT7HC3", "app_id": APP, "user": None},
    ],
    ids=["app_id", "bot_profile", "bot-user", "bot_message-of-our-app"],
)
def test_our_own_messages_are_outbound(mark: dict[str, Any]) -> None:
    [message] = parse(envelope(**mark))
    assert message.direction == "outbound"
    assert message.metadata["own_app"] == "true"
    assert message.recipient.identities == []  # a DM names no recipient; a thread's author would


@pytest.mark.parametrize(
    "mark",
    [
        {"subtype": "bot_message", "bot_id": "B0OTHER01", "user": None, "username": "Zapier"},
        {"bot_id": "B0OTHER01", "app_id": "A0OTHER01", "bot_profile": {"name": "Zapier"}},
        {"subtype": "bot_message", "bot_id": "B0OTHER01", "user": "U0OTHER01"},
    ],
    ids=["bot_message", "bot-user-of-another-app", "bot_message-with-user"],
)
def test_other_bots_are_flagged_and_never_a_customer(mark: dict[str, Any]) -> None:
    [message] = parse(envelope(**mark))
    assert message.direction == "inbound"
    assert message.metadata["bot"] == "true"
    assert message.sender.identities == []
    assert message.sender.display_name in ("Zapier", None)


@pytest.mark.parametrize("channel_type", ["im", "channel", "group", "mpim", "app_home"])
@pytest.mark.parametrize("subtype", [None, "file_share", "thread_broadcast", "me_message"])
def test_a_persons_message_in_any_conversation(channel_type: str, subtype: str | None) -> None:
    [message] = parse(envelope(channel_type=channel_type, subtype=subtype))
    assert (message.type, message.direction) == ("message", "inbound")
    assert identities(message.sender) == [("slack_user", f"{TEAM}:U2147483697")]
    assert message.metadata["channel_type"] == channel_type
    assert message.metadata.get("subtype") == subtype


@pytest.mark.parametrize(
    "subtype",
    [
        "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
        "channel_archive", "group_join", "pinned_item", "message_replied", "ekm_access_denied",
        "reminder_add", "some_future_subtype",
    ],
)  # fmt: skip
def test_other_subtypes_store_nothing(subtype: str) -> None:
    assert parse(envelope(subtype=subtype)) == []


@pytest.mark.parametrize(
    "event",
    [
        {"type": "reaction_added", "user": "U1", "reaction": "x", "event_ts": "1.2"},
        {"type": "app_mention", "user": "U1", "text": "<@U0BOT7HC3> hi", "ts": "1.2"},
        {"type": "member_joined_channel", "user": "U1", "channel": "C1"},
        {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"},
    ],
)
def test_events_that_are_not_messages_store_nothing(event: dict[str, Any]) -> None:
    document = json.loads(fixture("dm"))
    document["event"] = event
    assert parse(document) == []


def test_app_rate_limited_stores_nothing() -> None:
    notice = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "type": "app_rate_limited",
        "team_id": TEAM,
        "minute_rate_limited": 1518467820,
        "api_app_id": APP,
    }
    assert parse(notice) == []


def test_an_edit_of_our_own_message_is_outbound() -> None:
    document = json.loads(fixture("message_changed"))
    document["event"]["message"].update(user=BOT_USER, bot_id="B0BOT7HC3", app_id=APP)
    [edit] = parse(document)
    assert (edit.direction, edit.metadata["own_app"]) == ("outbound", "true")
    assert edit.metadata["edit_of"] == "1795341590.000200"


def test_a_deletion_without_the_previous_message_names_nobody() -> None:
    document = json.loads(fixture("message_deleted"))
    del document["event"]["previous_message"]
    [deletion] = parse(document)
    assert deletion.sender.identities == []
    assert deletion.content is None
    assert deletion.metadata["delete_of"] == "1795341590.000200"


def test_a_user_of_another_team_keeps_their_team() -> None:
    [message] = parse(envelope(user_team="T0OTHERTM", team="T0OTHERTM"))
    assert identities(message.sender) == [("slack_user", "T0OTHERTM:U2147483697")]


def test_the_envelope_team_stands_in_for_a_missing_event_team() -> None:
    [message] = parse(envelope(team=None))
    assert identities(message.sender) == [("slack_user", f"{TEAM}:U2147483697")]


def test_raw_keeps_the_envelope_when_asked() -> None:
    channel = make_channel(
        SlackChannel, {**SETTINGS, "include_raw": True}, channel_id="s", clock=lambda: RECEIVED
    )
    [message] = channel.parse(signed_request(fixture("dm")))
    assert isinstance(message.raw, dict)
    assert message.raw["event_id"] == "Ev08MFMKH6"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ts": "yesterday"}, "event.ts"),
        ({"ts": "1795341590.0000001"}, "event.ts"),
        ({"ts": "0"}, "event.ts"),
        ({"ts": "999999999999"}, "event.ts"),
        ({"ts": None}, "event.ts"),
        ({"channel": None}, "event.channel"),
        ({"user": 42}, "event.user"),
        ({"files": [1]}, "event.files.0"),
        ({"files": [{"size": "big"}]}, "event.files.0.size"),
        ({"subtype": "message_changed"}, "event.message"),
        ({"subtype": "message_deleted"}, "event.deleted_ts"),
    ],
)
def test_bad_events_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(envelope(**change))
    assert (caught.value.status, caught.value.field) == (422, field)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], None),
        ({}, "type"),
        ({"type": "event_callback"}, "event"),
        ({"type": "event_callback", "event": {"type": "message"}, "team_id": TEAM}, "event_id"),
    ],
)
def test_bad_envelopes(document: Any, field: str | None) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(document)
    assert (caught.value.status, caught.value.field) == (422, field)


def test_no_team_anywhere_is_a_422() -> None:
    document = envelope(team=None)
    del document["team_id"]
    with pytest.raises(PayloadError) as caught:
        parse(document)
    assert caught.value.field == "event.team"
