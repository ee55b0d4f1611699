"""No interaction is lost to an identity value: withheld callers, blanks and malformed e-mails
are left out of matching, kept in `metadata.unusable_identities`, counted, stored and delivered."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gateway.schema import MAX_METADATA, MAX_SHORT, Identity, Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from gateway.unusable import UNUSABLE_KEY, WITHHELD_NUMBERS, split_party
from tests.payloads import SECRET, webhook_backend
from tests.receiver import Receiver
from tests.waiting import eventually

OUR_NUMBER = "+15557654321"
WITHHELD = ["anonymous", "Anonymous", "unknown", "UNKNOWN", "restricted", "private", "+266696687"]
PHONES = [*WITHHELD, "", "  ", "12", "not a number", "+7378742833", "+8656696"]
EMAILS = ["", "  ", "a@", "@b", "not-an-email", "a b@example.com", "unknown"]
SPELLINGS = [("phone", value) for value in PHONES] + [("email", value) for value in EMAILS]


def reason_of(value: str) -> str:
    """The reason a value is expected to be refused for."""
    if not value.strip():
        return "empty"
    withheld = value.lower() in {w.lower() for w in WITHHELD} or value in WITHHELD_NUMBERS
    return "withheld" if withheld else "invalid"


def body(external_id: str, *identities: tuple[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "external_id": external_id,
        "type": "call",
        "call": {"status": "completed", "duration_s": 12},
        "sender": {"identities": [{"kind": k, "value": v} for k, v in identities]},
        "recipient": {"identities": [{"kind": "phone", "value": OUR_NUMBER}]},
        **fields,
    }


def unusable(interaction: Interaction) -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads(interaction.metadata[UNUSABLE_KEY])
    return entries


def counted(gut: GatewayUnderTest, kind: str, reason: str, channel: str = "web") -> float:
    labels = {"channel": channel, "kind": kind, "reason": reason}
    value = gut.gateway.metrics.registry.get_sample_value(
        "gateway_identities_unusable_total", labels
    )
    return value or 0.0


def customer_rows(db: Path) -> tuple[int, int]:
    """Return how many customers and customer identities the store holds."""
    with closing(sqlite3.connect(db)) as conn:
        customers = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        identities = conn.execute("SELECT count(*) FROM identities").fetchone()[0]
    return customers, identities


@pytest.fixture
async def gut(gateway_factory: GatewayFactory, receiver: Receiver) -> GatewayUnderTest:
    return await gateway_factory(
        {
            "channels": {"web": {"type": "generic", "kind": "voice", "secret": SECRET}},
            "backends": {"hook": webhook_backend(receiver.url), "audit": {"type": "log"}},
        }
    )


async def send(gut: GatewayUnderTest, payload: dict[str, Any]) -> Interaction:
    response = await gut.post_signed("web", payload, SECRET)
    assert response.status == 200, await response.text()
    [interaction_id] = (await response.json())["ids"]
    stored = await gut.gateway.store.get_interaction(interaction_id)
    assert isinstance(stored, Interaction)
    return stored


@pytest.mark.parametrize(("kind", "value"), SPELLINGS)
async def test_an_unusable_identity_is_stored_delivered_and_kept_in_metadata(
    gut: GatewayUnderTest, receiver: Receiver, tmp_path: Path, kind: str, value: str
) -> None:
    stored = await send(gut, body("CA1", (kind, value)))
    assert stored.sender.identities == []
    assert stored.customer_id is None
    assert customer_rows(tmp_path / "gateway.db") == (0, 0)
    reason = reason_of(value)
    assert unusable(stored) == [{"party": "sender", "kind": kind, "value": value, "reason": reason}]
    assert counted(gut, kind, reason) == 1

    async def delivered() -> bool:
        return [a.interaction.id for a in receiver.arrivals] == [stored.id]

    await eventually(delivered)
    assert receiver.problems == []
    assert unusable(receiver.arrivals[0].interaction) == unusable(stored)


async def test_a_usable_identity_next_to_a_withheld_one_still_names_the_customer(
    gut: GatewayUnderTest, tmp_path: Path
) -> None:
    stored = await send(
        gut, body("CA2", ("phone", "unknown"), ("email", "Jane@Example.com"), ("email", "a@"))
    )
    assert [(i.kind, i.value) for i in stored.sender.identities] == [("email", "jane@example.com")]
    assert stored.customer_id is not None
    assert customer_rows(tmp_path / "gateway.db") == (1, 1)
    assert [(e["kind"], e["value"]) for e in unusable(stored)] == [
        ("phone", "unknown"),
        ("email", "a@"),
    ]


async def test_withheld_callers_never_join_one_customer(gut: GatewayUnderTest) -> None:
    """Two hidden callers are two strangers, not one customer named `+266696687`."""
    first = await send(gut, body("CA3", ("phone", "+266696687")))
    second = await send(gut, body("CA4", ("phone", "+266696687")))
    assert first.customer_id is None
    assert second.customer_id is None
    assert counted(gut, "phone", "withheld") == 2


async def test_an_unusable_interaction_is_still_422(gut: GatewayUnderTest) -> None:
    """Only the identity is set aside: a malformed identity entry or interaction is refused."""
    for payload, field in (
        (body("CA5", ("phone", "unknown"), type="nonsense"), "type"),
        ({**body("CA6"), "sender": {"identities": [{"kind": "phone", "value": 5}]}}, "sender"),
    ):
        response = await gut.post_signed("web", payload, SECRET)
        assert response.status == 422, await response.text()
        assert field in await response.text()


async def test_the_metadata_entry_stays_inside_the_schema_bounds(gut: GatewayUnderTest) -> None:
    """100 long refused values: the entry is valid JSON under `MAX_SHORT`, the first kept."""
    values = [("email", f"{i}-" + "x" * 500) for i in range(100)]
    stored = await send(gut, body("CA7", *values))
    text = stored.metadata[UNUSABLE_KEY]
    assert len(text) <= MAX_SHORT
    entries = json.loads(text)
    assert entries[0]["value"].startswith("0-")
    assert all(len(entry["value"]) <= 256 for entry in entries)
    assert counted(gut, "email", "invalid") == 100


async def test_full_metadata_still_stores_the_interaction(gut: GatewayUnderTest) -> None:
    metadata = {f"k{i}": "v" for i in range(MAX_METADATA)}
    stored = await send(gut, body("CA8", ("phone", "anonymous"), metadata=metadata))
    assert stored.metadata == metadata
    assert counted(gut, "phone", "withheld") == 1


async def test_an_unknown_kind_is_counted_as_other(gut: GatewayUnderTest) -> None:
    stored = await send(gut, body("CA9", ("Not A Kind", "x"), ("pager", "  ")))
    assert [e["reason"] for e in unusable(stored)] == ["invalid", "empty"]
    assert counted(gut, "other", "invalid") == 1
    assert counted(gut, "other", "empty") == 1


def test_identities_already_built_or_malformed_are_left_for_validation() -> None:
    party = {"identities": ["junk", {"kind": "phone"}, {"kind": "phone", "value": "anonymous"}]}
    kept, left_out = split_party("sender", party, "US")
    assert kept["identities"] == ["junk", {"kind": "phone"}]
    assert [(u.kind, u.value, u.reason) for u in left_out] == [("phone", "anonymous", "withheld")]


def test_asserted_marks_mappings_and_built_identities_and_keeps_the_cache_apart() -> None:
    built = Identity(kind="slack_user", value="T1:U1")
    party = {"identities": [{"kind": "phone", "value": "(415) 555-0100", "verified": True}, built]}
    kept, _ = split_party("sender", party, "US", asserted=True)
    assert kept["identities"] == [
        Identity(kind="phone", value="+14155550100", verified=False),
        Identity(kind="slack_user", value="T1:U1", verified=False),
    ]
    kept, _ = split_party("sender", party, "US")
    assert [identity.verified for identity in kept["identities"]] == [True, True]
