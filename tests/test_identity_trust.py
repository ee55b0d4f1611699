"""Identity trust: a typed or unproven identity never merges customers or takes one over."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.identity import IDENTITY_EVENTS
from gateway.schema import Identity, Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store
from tests.payloads import SECRET
from tests.receiver import Receiver, report_record_refs
from tests.test_identity import config, contact, send
from tests.waiting import eventually


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


VICTIM = "ann@example.com"
STRANGER = "+15550000002"
DESK = ("email", "desk@shop.example")


def trust_config(receiver: Receiver | None = None, **identity: Any) -> dict[str, Any]:
    """The channels of tests.test_identity, plus a web-chat form whose visitors type details."""
    settings = config(receiver, **identity)
    settings["channels"]["web-form"] = {
        "type": "generic",
        "kind": "webchat",
        "secret": SECRET,
        "identities_verified": False,
    }
    return settings


def events(gut: GatewayUnderTest) -> dict[str, int]:
    """Return the non-zero `gateway_identity_events_total` counters by event."""
    registry = gut.gateway.metrics.registry
    found = {
        event: int(
            registry.get_sample_value("gateway_identity_events_total", {"event": event}) or 0
        )
        for event in IDENTITY_EVENTS
    }
    return {event: count for event, count in found.items() if count}


def asserted(body: dict[str, Any], kind: str) -> dict[str, Any]:
    """Return `body` with the sender's identities of `kind` marked `"verified": false`."""
    for identity in body["sender"]["identities"]:
        if identity["kind"] == kind:
            identity["verified"] = False
    return body


async def victim_and_stranger(gut: GatewayUnderTest) -> tuple[Interaction, Interaction]:
    """Ann e-mails (her address verified), then a stranger texts from his own phone."""
    ann = await send(gut, "support-email", contact("E1", ("email", VICTIM), ours=DESK))
    stranger = await send(gut, "support-sms", contact("SM1", ("phone", STRANGER), name="Max"))
    assert ann.customer_id
    assert stranger.customer_id
    assert ann.customer_id != stranger.customer_id
    return ann, stranger


def the_form(external_id: str = "chat-1") -> dict[str, Any]:
    """The stranger's web-chat form: his own phone, and Ann's e-mail typed into it."""
    return contact(external_id, ("phone", STRANGER), ("email", VICTIM), name="Max")


async def identities_of(gut: GatewayUnderTest, customer_id: str | None) -> list[Identity]:
    assert customer_id is not None
    record = await gut.gateway.store.get_customer(customer_id)
    assert record is not None
    assert record.merged_into is None
    assert record.merges == ()
    return list(record.identities)


async def test_a_typed_email_on_an_unverified_form_merges_nobody(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    receiver.behaviour = report_record_refs
    gut = await gateway_factory(trust_config(receiver))
    store = gut.gateway.store
    ann, stranger = await victim_and_stranger(gut)
    chat = await send(gut, "web-form", the_form())

    assert [i.verified for i in chat.sender.identities] == [False, False]
    # Both identities are asserted: no merge; `priority` (e-mail first) names Ann, as a claim.
    assert chat.customer_id == ann.customer_id
    assert chat.context is not None
    assert chat.context.identity_claimed
    assert chat.identity_claimed
    assert not ann.identity_claimed
    assert not stranger.identity_claimed
    assert await identities_of(gut, ann.customer_id) == [Identity(kind="email", value=VICTIM)]
    assert await identities_of(gut, stranger.customer_id) == [
        Identity(kind="phone", value=STRANGER)
    ]
    [proposal] = await store.list_proposals()
    assert (proposal.customer_id, proposal.other_customer_id) == (
        ann.customer_id,
        stranger.customer_id,
    )
    assert proposal.identity == Identity(kind="phone", value=STRANGER)
    assert "asserted" in proposal.reason
    assert events(gut) == {"customer_created": 2, "proposed": 1, "merge_held_unverified": 1,
                           "claimed": 1}  # fmt: skip
    # Replies: Ann's verified address only; the claimed chat names nobody to answer.
    assert ann.customer_id is not None
    assert await store.reply_identities(ann.customer_id) == [Identity(kind="email", value=VICTIM)]
    assert await store.reply_identities("cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB") is None
    # The CRM sees no merge, and the chat as claimed in the interaction's JSON.
    await eventually(lambda: _arrived(receiver, 3))
    [forwarded] = [a.interaction for a in receiver.arrivals if a.interaction.id == chat.id]
    assert forwarded.context is not None
    assert forwarded.context.identity_claimed
    assert forwarded.customer_id == ann.customer_id
    assert receiver.customer_events == []
    assert receiver.problems == []
    # Ann's own next e-mail is hers, verified, and not claimed.
    again = await send(
        gut, "support-email", contact("E2", ("email", VICTIM), ours=DESK, at="2026-11-22T10:30:00Z")
    )
    assert again.customer_id == ann.customer_id
    assert not again.identity_claimed


async def _arrived(receiver: Receiver, count: int) -> bool:
    return len(receiver.arrivals) >= count


async def test_the_verified_phone_decides_and_the_typed_email_is_held(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(trust_config())
    ann, stranger = await victim_and_stranger(gut)
    # The company's app verified the phone (an OTP) but the e-mail was only typed.
    chat = await send(gut, "support-sms", asserted(the_form("SM2"), "email"))

    assert chat.customer_id == stranger.customer_id
    assert chat.context is not None
    assert not chat.context.identity_claimed
    assert await identities_of(gut, ann.customer_id) == [Identity(kind="email", value=VICTIM)]
    assert await identities_of(gut, stranger.customer_id) == [
        Identity(kind="phone", value=STRANGER)
    ]
    [proposal] = await gut.gateway.store.list_proposals()
    assert (proposal.customer_id, proposal.identity, proposal.other_customer_id) == (
        stranger.customer_id,
        Identity(kind="email", value=VICTIM),
        ann.customer_id,
    )
    assert events(gut)["merge_held_unverified"] == 1
    assert "merged" not in events(gut)
    assert "claimed" not in events(gut)


async def test_the_same_form_verified_merges_as_before(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(trust_config())
    ann, stranger = await victim_and_stranger(gut)
    # The visitor logged in: the app vouches for both identities.
    chat = await send(gut, "support-sms", the_form("SM2"))

    assert chat.customer_id == ann.customer_id  # the oldest customer survives
    record = await gut.gateway.store.get_customer(stranger.customer_id or "")
    assert record is not None
    assert record.merged_into == ann.customer_id
    assert chat.context is not None
    assert not chat.context.identity_claimed
    assert events(gut)["merged"] == 1
    assert "merge_held_unverified" not in events(gut)


async def test_trust_asserted_restores_plain_matching(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(trust_config(rules={"trust_asserted": True}))
    ann, stranger = await victim_and_stranger(gut)
    chat = await send(gut, "web-form", the_form())

    assert chat.customer_id == ann.customer_id
    assert chat.context is not None
    assert not chat.context.identity_claimed
    record = await gut.gateway.store.get_customer(stranger.customer_id or "")
    assert record is not None
    assert record.merged_into == ann.customer_id
    assert events(gut)["merged"] == 1


async def test_a_typed_unknown_email_never_joins_a_verified_customer(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(trust_config())
    store = gut.gateway.store
    stranger = await send(gut, "support-sms", contact("SM1", ("phone", STRANGER), name="Max"))
    # Nobody knows Ann's address yet: the stranger types it next to his verified phone.
    chat = await send(gut, "support-sms", asserted(the_form("SM2"), "email"))
    assert chat.customer_id == stranger.customer_id
    assert not chat.identity_claimed
    assert await identities_of(gut, stranger.customer_id) == [
        Identity(kind="phone", value=STRANGER)
    ]
    [proposal] = await store.list_proposals()
    assert (proposal.customer_id, proposal.identity, proposal.other_customer_id) == (
        stranger.customer_id,
        Identity(kind="email", value=VICTIM),
        None,
    )
    # Ann's own mail then makes a customer of her own, not the stranger's.
    ann = await send(gut, "support-email", contact("E1", ("email", VICTIM), ours=DESK))
    assert ann.customer_id not in (None, stranger.customer_id)
    assert not ann.identity_claimed
    assert stranger.customer_id is not None
    assert await store.reply_identities(stranger.customer_id) == [
        Identity(kind="phone", value=STRANGER)
    ]


async def test_a_verified_contact_takes_back_an_identity_only_claimed_before(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(trust_config())
    store = gut.gateway.store
    # A visitor's form creates a customer from typed details only: stored asserted, claimed.
    chat = await send(gut, "web-form", the_form())
    assert chat.customer_id is not None
    assert chat.identity_claimed
    record = await store.get_customer(chat.customer_id)
    assert record is not None
    assert {i.verified for i in record.identities} == {False}
    assert await store.reply_identities(chat.customer_id) == []
    # A returning visitor reaches the same customer through what they typed, still claimed.
    back = await send(gut, "web-form", the_form("chat-2"))
    assert back.customer_id == chat.customer_id
    assert back.identity_claimed
    # Ann's verified mail proves the address: it moves to her own customer, and the claim's
    # holder gets a proposal an operator can accept if it was Ann all along.
    ann = await send(gut, "support-email", contact("E1", ("email", VICTIM), ours=DESK))
    assert ann.customer_id not in (None, chat.customer_id)
    assert not ann.identity_claimed
    assert ann.customer_id is not None
    assert await store.reply_identities(ann.customer_id) == [Identity(kind="email", value=VICTIM)]
    assert await identities_of(gut, chat.customer_id) == [
        Identity(kind="phone", value=STRANGER, verified=False)
    ]
    [proposal] = await store.list_proposals()
    assert (proposal.customer_id, proposal.identity, proposal.other_customer_id) == (
        chat.customer_id,
        Identity(kind="email", value=VICTIM),
        ann.customer_id,
    )
    # Later mail from Ann stays with Ann.
    later = await send(
        gut, "support-email", contact("E2", ("email", VICTIM), ours=DESK, at="2026-11-22T11:00:00Z")
    )
    assert later.customer_id == ann.customer_id


async def test_an_operator_link_is_a_reply_identity(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(trust_config())
    store = gut.gateway.store
    chat = await send(gut, "web-form", the_form())
    assert chat.customer_id is not None
    other = Identity(kind="email", value="max@example.com")
    await store.link_identity(chat.customer_id, other, now=gut.gateway.clock())
    assert await store.reply_identities(chat.customer_id) == [other]


async def test_verified_must_be_a_boolean(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(trust_config())
    body = asserted(the_form("SM9"), "email")
    body["sender"]["identities"][1]["verified"] = "no"
    response = await gut.post_signed("support-sms", body, SECRET)
    assert response.status == 422
    problem = await response.json()
    assert "sender.identities.1.verified" in str(problem)


async def test_a_new_verified_phone_is_a_customer_of_its_own_next_to_a_typed_email(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(trust_config())
    ann = await send(gut, "support-email", contact("E1", ("email", VICTIM), ours=DESK))
    # A phone nobody knows, verified, with Ann's address typed beside it.
    chat = await send(gut, "support-sms", asserted(the_form("SM2"), "email"))

    assert chat.customer_id not in (None, ann.customer_id)
    assert not chat.identity_claimed
    assert await identities_of(gut, chat.customer_id) == [Identity(kind="phone", value=STRANGER)]
    assert await identities_of(gut, ann.customer_id) == [Identity(kind="email", value=VICTIM)]
    [proposal] = await gut.gateway.store.list_proposals()
    assert (proposal.customer_id, proposal.other_customer_id) == (chat.customer_id, ann.customer_id)
    assert events(gut)["merge_held_unverified"] == 1
