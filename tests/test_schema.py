"""The interaction/v1 model: strict where it matters, UTC always, JSON in the contract's names."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import ulid
from pydantic import ValidationError

from gateway import schema
from gateway.schema import Interaction

BASE: dict[str, Any] = {
    "type": "message",
    "direction": "inbound",
    "channel": {"id": "web", "kind": "webchat", "provider": "generic"},
    "external_id": "m-1",
    "occurred_at": "2026-11-22T11:00:00+01:00",
    "received_at": "2026-11-22T10:00:00.120Z",
}


def test_json_form_uses_the_contract_names_and_utc() -> None:
    interaction = Interaction.model_validate(BASE)
    document = interaction.model_dump(mode="json")
    assert document["schema"] == "interaction/v1"
    assert len(document["id"]) == 26
    assert document["occurred_at"] == "2026-11-22T10:00:00Z"
    assert document["received_at"] == "2026-11-22T10:00:00.120000Z"
    assert Interaction.model_validate_json(interaction.model_dump_json()) == interaction


def test_datetimes_are_converted_to_utc() -> None:
    tz = timezone(timedelta(hours=-5))
    interaction = Interaction.model_validate(
        {**BASE, "occurred_at": datetime(2026, 1, 1, tzinfo=tz)}
    )
    assert interaction.occurred_at == datetime(2026, 1, 1, 5, tzinfo=UTC)
    assert interaction.occurred_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"occurred_at": "2026-11-22T10:00:00"}, "occurred_at"),
        ({"type": "fax"}, "type"),
        ({"channel": {"id": "web", "kind": "pager", "provider": "x"}}, "channel.kind"),
        ({"id": "not-a-ulid"}, "id"),
        ({"customer_id": "cus_123"}, "customer_id"),
        ({"surprise": 1}, "surprise"),
        (
            {"sender": {"identities": [{"kind": "email", "value": "Jane@Example.com"}]}},
            "sender.identities.0.value\n  Value error, email identity must be a lower-case",
        ),
        (
            {"recipient": {"identities": [{"kind": "phone", "value": "(415) 555-0100"}]}},
            "recipient.identities.0.value\n  Value error, phone identity must be E.164",
        ),
        ({"type": "call"}, "needs 'call'"),
        ({"status": {"of_external_id": "x", "state": "read"}}, "only for interactions"),
    ],
)
def test_invalid_interactions_name_the_problem(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Interaction.model_validate({**BASE, **change})
    assert where in str(caught.value)


def test_interactions_are_immutable() -> None:
    interaction = Interaction.model_validate(BASE)
    with pytest.raises(ValidationError):
        interaction.external_id = "other"  # type: ignore[misc]


def test_identity_claimed_reads_the_context_and_is_not_serialised() -> None:
    context = {
        "conversation_channels": ["webchat"],
        "conversation_size": 1,
        "repeat_contact": False,
    }
    plain, unclaimed = (
        Interaction.model_validate(BASE),
        Interaction.model_validate({**BASE, "context": context}),
    )
    claimed = Interaction.model_validate({**BASE, "context": {**context, "identity_claimed": True}})
    assert [i.identity_claimed for i in (plain, unclaimed, claimed)] == [False, False, True]
    document = claimed.model_dump(mode="json")
    assert "identity_claimed" not in document
    assert document["context"]["identity_claimed"] is True
    assert "identity_claimed" not in Interaction.model_json_schema()["properties"]


@pytest.mark.parametrize("random", [bytes(10), b"\xff" * 10, bytes(range(10)), b"\x0f" * 10])
@pytest.mark.parametrize("ms", [0, 1_764_000_000_123, 2**48 - 1])
def test_new_ids_are_the_ulids_of_the_time_and_the_randomness(
    monkeypatch: pytest.MonkeyPatch, ms: int, random: bytes
) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: ms * 1_000_000 + 999_999)
    monkeypatch.setattr(os, "urandom", lambda size: random[:size])
    assert schema.new_interaction_id() == str(ulid.ULID.from_int(ms << 80 | int.from_bytes(random)))
