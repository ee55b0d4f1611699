"""Cross-channel identity end to end: signed webhooks in, one customer and conversation out."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.schema import Identity, Interaction
from gateway.store.base import CustomerRecord
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store
from tests.payloads import SECRET, webhook_backend
from tests.postgres import every_row
from tests.receiver import Receiver, report_record_refs
from tests.waiting import eventually


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


PHONE = "+15551234567"
OUR_NUMBER = "+15557654321"
CHANNELS = {
    "support-sms": "sms",
    "twilio-whatsapp": "whatsapp",
    "whatsapp-cloud": "whatsapp",
    "support-voice": "voice",
    "support-email": "email",
}


def config(receiver: Receiver | None = None, **identity: Any) -> dict[str, Any]:
    backends = {"hook": webhook_backend(receiver.url)} if receiver else {}
    return {
        "channels": {
            channel_id: {"type": "generic", "kind": kind, "secret": SECRET}
            for channel_id, kind in CHANNELS.items()
        },
        "backends": backends,
        "identity": identity,
    }


def contact(
    external_id: str,
    *identities: tuple[str, str],
    at: str = "2026-11-22T10:00:00Z",
    direction: str = "inbound",
    name: str | None = "Jane Doe",
    ours: tuple[str, str] = ("phone", OUR_NUMBER),
    **fields: Any,
) -> dict[str, Any]:
    """A generic-channel body: the customer's identities on their side, ours on the other."""
    customer = {
        "display_name": name,
        "identities": [{"kind": k, "value": v} for k, v in identities],
    }
    business = {"identities": [{"kind": ours[0], "value": ours[1]}]}
    sender, recipient = (customer, business) if direction == "inbound" else (business, customer)
    return {
        "external_id": external_id,
        "occurred_at": at,
        "direction": direction,
        "sender": sender,
        "recipient": recipient,
        "content": {"text": f"text of {external_id}"},
        **fields,
    }


async def send(gut: GatewayUnderTest, channel_id: str, body: dict[str, Any]) -> Interaction:
    """Post `body` signed; return the interaction as stored."""
    response = await gut.post_signed(channel_id, body, SECRET)
    assert response.status == 200, await response.text()
    [interaction_id] = (await response.json())["ids"]
    stored = await gut.gateway.store.get_interaction(interaction_id)
    assert isinstance(stored, Interaction)
    return stored


def identity_events(gut: GatewayUnderTest) -> dict[str, int]:
    """Return the `gateway_identity_events_total` counters by event."""
    registry = gut.gateway.metrics.registry
    return {
        event: int(
            registry.get_sample_value("gateway_identity_events_total", {"event": event}) or 0
        )
        for event in ("customer_created", "merged", "proposed")
    }


def context_of(interaction: Interaction) -> dict[str, Any]:
    assert interaction.context is not None
    return interaction.context.model_dump()


async def test_one_phone_on_four_channels_is_one_customer_in_one_conversation(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    sms = await send(gut, "support-sms", contact("SM1", ("phone", "(555) 123-4567")))
    twilio_wa = await send(
        gut,
        "twilio-whatsapp",
        contact("SM2", ("phone", f"whatsapp:{PHONE}"), at="2026-11-22T10:05:00Z"),
    )
    cloud_wa = await send(
        gut,
        "whatsapp-cloud",
        contact("wamid.3", ("phone", PHONE), at="2026-11-22T10:10:00Z"),
    )
    call = await send(
        gut,
        "support-voice",
        contact(
            "CA4",
            ("phone", "+1 555 123 4567"),
            at="2026-11-22T10:20:00Z",
            type="call",
            call={"status": "completed", "duration_s": 63},
        ),
    )

    contacts = [sms, twilio_wa, cloud_wa, call]
    assert sms.customer_id is not None
    assert sms.conversation_id is not None
    assert {c.customer_id for c in contacts} == {sms.customer_id}
    assert {c.conversation_id for c in contacts} == {sms.conversation_id}
    assert [context_of(c) for c in contacts] == [
        {
            "conversation_channels": ["sms"],
            "conversation_size": 1,
            "repeat_contact": False,
            "previous_channel": None,
            "identity_claimed": False,
        },
        {
            "conversation_channels": ["sms", "whatsapp"],
            "conversation_size": 2,
            "repeat_contact": True,  # the SMS is unanswered and this came on another channel
            "previous_channel": "sms",
            "identity_claimed": False,
        },
        {
            "conversation_channels": ["sms", "whatsapp"],
            "conversation_size": 3,
            "repeat_contact": False,  # the same channel again
            "previous_channel": "whatsapp",
            "identity_claimed": False,
        },
        {
            "conversation_channels": ["sms", "voice", "whatsapp"],
            "conversation_size": 4,
            "repeat_contact": True,
            "previous_channel": "whatsapp",
            "identity_claimed": False,
        },
    ]
    customer = await gut.gateway.store.get_customer(sms.customer_id)
    assert customer is not None
    assert customer.identities == (Identity(kind="phone", value=PHONE),)
    assert customer.display_name == "Jane Doe"
    # Our own number, the recipient of all of it, is nobody's identity.
    assert await gut.gateway.store.find_customer(Identity(kind="phone", value=OUR_NUMBER)) is None


async def test_linked_email_joins_the_conversation_as_a_repeat_contact(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    sms = await send(gut, "support-sms", contact("SM1", ("phone", PHONE)))
    assert sms.customer_id is not None
    call = await send(
        gut,
        "support-voice",
        contact(
            "CA2",
            ("phone", PHONE),
            at="2026-11-22T11:00:00Z",
            type="call",
            call={"status": "no-answer"},
        ),
    )
    email = Identity(kind="email", value="jane@example.com")
    linked = await gut.gateway.store.link_identity(sms.customer_id, email, now=gut.gateway.clock())
    assert linked is not None
    assert linked.action == "linked"

    mail = await send(
        gut,
        "support-email",
        contact(
            "<m3@example.com>",
            ("email", "Jane@Example.com"),
            at="2026-11-22T12:00:00Z",
            ours=("email", "help-desk@shop.example"),
        ),
    )

    assert mail.customer_id == sms.customer_id
    assert mail.conversation_id == sms.conversation_id == call.conversation_id
    assert context_of(mail) == {
        "conversation_channels": ["email", "sms", "voice"],
        "conversation_size": 3,
        "repeat_contact": True,
        "previous_channel": "voice",
        "identity_claimed": False,
    }


async def test_an_outbound_reply_clears_the_repeat_contact(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    await send(gut, "support-sms", contact("SM1", ("phone", PHONE)))
    reply = await send(
        gut,
        "support-sms",
        contact("SM2", ("phone", PHONE), at="2026-11-22T10:01:00Z", direction="outbound"),
    )
    again = await send(
        gut,
        "twilio-whatsapp",
        contact("SM3", ("phone", PHONE), at="2026-11-22T10:02:00Z"),
    )

    assert reply.customer_id == again.customer_id
    assert context_of(reply)["repeat_contact"] is False
    assert context_of(again) == {
        "conversation_channels": ["sms", "whatsapp"],
        "conversation_size": 3,
        "repeat_contact": False,  # the agent answered the SMS
        "previous_channel": "sms",
        "identity_claimed": False,
    }


async def test_a_contact_after_the_window_opens_a_new_conversation(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config(conversation_window="2h"))
    first = await send(gut, "support-sms", contact("SM1", ("phone", PHONE)))
    within = await send(
        gut, "support-sms", contact("SM2", ("phone", PHONE), at="2026-11-22T11:59:00Z")
    )
    after = await send(
        gut, "twilio-whatsapp", contact("SM3", ("phone", PHONE), at="2026-11-22T14:00:00Z")
    )

    assert first.customer_id == within.customer_id == after.customer_id
    assert within.conversation_id == first.conversation_id
    assert after.conversation_id not in (None, first.conversation_id)
    assert context_of(after) == {
        "conversation_channels": ["whatsapp"],
        "conversation_size": 1,
        "repeat_contact": False,
        "previous_channel": None,
        "identity_claimed": False,
    }


async def test_a_shared_mailbox_never_merges_two_people(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    ann = await send(
        gut,
        "support-email",
        contact("<a@x>", ("email", "support@acme.example"), ("phone", "+15550000001"), name="Ann"),
    )
    bob = await send(
        gut,
        "support-email",
        contact("<b@x>", ("email", "support@acme.example"), ("phone", "+15550000002"), name="Bob"),
    )

    assert None not in (ann.customer_id, bob.customer_id)
    assert ann.customer_id != bob.customer_id
    store = gut.gateway.store
    assert await store.find_customer(Identity(kind="email", value="support@acme.example")) is None
    assert await store.list_proposals() == []


async def test_a_blocked_number_never_merges_two_people(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config(rules={"blocked": {"phone": [r"^\+15550100000$"]}}))
    ann = await send(
        gut, "support-sms", contact("SM1", ("phone", "+15550100000"), ("email", "ann@example.com"))
    )
    bob = await send(
        gut, "support-sms", contact("SM2", ("phone", "+15550100000"), ("email", "bob@example.com"))
    )
    anonymous = await send(gut, "support-voice", contact("CA3", ("web_visitor", "anonymous")))

    assert ann.customer_id != bob.customer_id
    assert anonymous.customer_id is None
    assert anonymous.conversation_id is None


async def test_the_per_kind_limit_turns_a_merge_into_a_proposal(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config(rules={"limits": {"phone": 1}}))
    ann = await send(gut, "support-sms", contact("SM1", ("phone", "+15550000001"), name="Ann"))
    bob = await send(gut, "support-sms", contact("SM2", ("phone", "+15550000002"), name="Bob"))
    both = await send(
        gut,
        "support-sms",
        contact("SM3", ("phone", "+15550000001"), ("phone", "+15550000002")),
    )

    assert both.customer_id == ann.customer_id  # the older of two equally strong links
    store = gut.gateway.store
    assert ann.customer_id is not None
    assert bob.customer_id is not None
    bob_now = await store.get_customer(bob.customer_id)
    assert bob_now is not None
    assert bob_now.merged_into is None
    [proposal] = await store.list_proposals()
    assert (proposal.customer_id, proposal.other_customer_id) == (ann.customer_id, bob.customer_id)
    assert proposal.identity == Identity(kind="phone", value="+15550000002")
    assert proposal.interaction_id == both.id
    assert "more than 1 phone" in proposal.reason
    assert identity_events(gut) == {"customer_created": 2, "merged": 0, "proposed": 1}

    accepted = await store.decide_proposal(proposal.id, accept=True, now=gut.gateway.clock())

    assert accepted is not None
    assert accepted.state == "accepted"
    merged = await store.get_customer(bob.customer_id)
    assert merged is not None
    assert merged.merged_into == ann.customer_id


async def test_a_provider_scoped_id_alone_never_merges(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    chat = await send(gut, "support-sms", contact("W1", ("web_visitor", "v-42")))
    mail = await send(gut, "support-email", contact("E2", ("email", "bob@example.com")))
    both = await send(
        gut, "support-email", contact("E3", ("email", "bob@example.com"), ("web_visitor", "v-42"))
    )

    assert chat.customer_id != mail.customer_id
    assert both.customer_id == mail.customer_id  # e-mail outranks the visitor cookie
    [proposal] = await gut.gateway.store.list_proposals()
    assert proposal.reason == "linked only through a provider-scoped id"
    assert proposal.other_customer_id == chat.customer_id


async def test_merge_anonymous_merges_a_visitor_known_by_no_phone_or_email(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config(rules={"merge_anonymous": True}))
    chat = await send(gut, "support-sms", contact("W1", ("web_visitor", "v-42")))
    mail = await send(gut, "support-email", contact("E2", ("email", "bob@example.com")))
    both = await send(
        gut, "support-email", contact("E3", ("email", "bob@example.com"), ("web_visitor", "v-42"))
    )
    assert chat.customer_id is not None
    assert mail.customer_id is not None

    assert both.customer_id == chat.customer_id  # the older customer survives
    absorbed = await gut.gateway.store.get_customer(mail.customer_id)
    assert absorbed is not None
    assert absorbed.merged_into == chat.customer_id
    assert await gut.gateway.store.list_proposals() == []


async def test_merge_anonymous_never_merges_a_visitor_with_a_phone(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config(rules={"merge_anonymous": True}))
    known = await send(
        gut, "support-sms", contact("W1", ("web_visitor", "v-42"), ("phone", "+15550000001"))
    )
    mail = await send(gut, "support-email", contact("E2", ("email", "bob@example.com")))
    both = await send(
        gut, "support-email", contact("E3", ("email", "bob@example.com"), ("web_visitor", "v-42"))
    )

    assert both.customer_id == mail.customer_id
    assert known.customer_id != mail.customer_id
    [proposal] = await gut.gateway.store.list_proposals()
    assert proposal.reason == "linked only through a provider-scoped id"


async def test_unmerge_restores_both_customers_exactly(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config())
    store, now = gut.gateway.store, gut.gateway.clock
    ann = await send(gut, "support-sms", contact("SM1", ("phone", "+15550000001"), name="Ann"))
    bob = await send(
        gut,
        "support-email",
        contact(
            "E2", ("email", "bob@example.com"), name="Bob", ours=("email", "desk@shop.example")
        ),
    )
    assert ann.customer_id is not None
    assert bob.customer_id is not None
    before = [await store.get_customer(c) for c in (ann.customer_id, bob.customer_id)]
    timelines = [
        [e.interaction.id for e in await store.timeline(c)]
        for c in (ann.customer_id, bob.customer_id)
    ]

    both = await send(
        gut,
        "support-sms",
        contact("SM3", ("phone", "+15550000001"), ("email", "bob@example.com")),
    )
    assert both.customer_id == ann.customer_id  # the survivor is the older customer
    merged = await store.get_customer(bob.customer_id)
    assert merged is not None
    assert merged.merged_into == ann.customer_id
    survivor = await store.find_customer(Identity(kind="email", value="bob@example.com"))
    assert survivor is not None
    assert survivor.id == ann.customer_id
    assert {i.value for i in survivor.identities} == {"+15550000001", "bob@example.com"}
    assert identity_events(gut) == {"customer_created": 2, "merged": 1, "proposed": 0}
    assert survivor.merges[0].cause == (
        "email:bob@example.com and phone:+15550000001 in one interaction"  # strongest first
    )

    undone = await store.unmerge(bob.customer_id, now=now())

    assert undone is not None
    assert undone.action == "unmerge"
    after = [await store.get_customer(c) for c in (ann.customer_id, bob.customer_id)]
    for old, new in zip(before, after, strict=True):
        assert old is not None
        assert new is not None
        assert (new.id, new.display_name, new.created_at, new.merged_into, new.identities) == (
            old.id,
            old.display_name,
            old.created_at,
            None,
            old.identities,
        )
    assert [e.interaction.id for e in await store.timeline(bob.customer_id)] == timelines[1]
    # The interaction that linked them stays with the customer it was attributed to.
    assert [e.interaction.id for e in await store.timeline(ann.customer_id)] == [
        *timelines[0],
        both.id,
    ]
    bob_again = await store.find_customer(Identity(kind="email", value="bob@example.com"))
    assert bob_again is not None
    assert bob_again.id == bob.customer_id


async def test_concurrent_contacts_of_one_new_identity_create_one_customer(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    stored = await asyncio.gather(
        *(send(gut, "support-sms", contact(f"SM{n}", ("phone", PHONE))) for n in range(40))
    )

    assert len({interaction.customer_id for interaction in stored}) == 1
    assert len({interaction.conversation_id for interaction in stored}) == 1
    assert sorted(context_of(i)["conversation_size"] for i in stored) == list(range(1, 41))


async def test_a_status_receipt_names_the_customer_but_is_no_contact(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    reply = await send(gut, "support-sms", contact("SM1", ("phone", PHONE), direction="outbound"))
    receipt = await send(
        gut,
        "support-sms",
        contact(
            "SM1/delivered",
            ("phone", PHONE),
            direction="outbound",
            at="2026-11-22T10:00:05Z",
            type="status",
            status={"of_external_id": "SM1", "state": "delivered"},
        ),
    )
    stranger = await send(
        gut,
        "support-sms",
        contact(
            "SM9/failed",
            ("phone", "+15550000009"),
            direction="outbound",
            type="status",
            status={"of_external_id": "SM9", "state": "failed"},
        ),
    )

    assert (receipt.customer_id, receipt.conversation_id) == (
        reply.customer_id,
        reply.conversation_id,
    )
    assert receipt.context is None
    assert stranger.customer_id is None  # a receipt creates nobody
    assert (
        await gut.gateway.store.find_customer(Identity(kind="phone", value="+15550000009")) is None
    )


async def test_crosswalk_refs_reach_the_next_delivery_for_the_customer(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    async def crm(interaction: Interaction, arrival: int) -> web.Response:
        return web.json_response(
            {"record_refs": [f"contact {(interaction.customer_id or '')[-4:]}"]}
        )

    receiver.behaviour = crm
    gut = await gateway_factory(config(receiver))
    first = await send(gut, "support-sms", contact("SM1", ("phone", PHONE)))
    await eventually(lambda: _delivered(receiver, 1))
    second = await send(
        gut, "twilio-whatsapp", contact("SM2", ("phone", PHONE), at="2026-11-22T10:05:00Z")
    )
    await eventually(lambda: _delivered(receiver, 2))

    assert first.customer_id is not None
    ref = f"contact {first.customer_id[-4:]}"
    assert [(a.interaction.id, a.record_refs) for a in receiver.arrivals] == [
        (first.id, []),
        (second.id, [ref]),
    ]
    customer = await gut.gateway.store.get_customer(first.customer_id)
    assert customer is not None
    assert customer.crosswalk == {"hook": (ref,)}
    assert receiver.problems == []


async def _delivered(receiver: Receiver, count: int) -> bool:
    return len(receiver.arrivals) >= count


async def test_merges_unmerges_and_erasures_reach_capable_backends(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    receiver.behaviour = report_record_refs
    gut = await gateway_factory(config(receiver))
    store, now = gut.gateway.store, gut.gateway.clock
    ann = await send(gut, "support-sms", contact("SM1", ("phone", "+15550000001")))
    bob = await send(
        gut,
        "support-email",
        contact("E2", ("email", "bob@example.com"), ours=("email", "desk@shop.example")),
    )
    await eventually(lambda: _delivered(receiver, 2))
    await eventually(lambda: _crosswalk_known(gut, bob.customer_id))
    await eventually(lambda: _crosswalk_known(gut, ann.customer_id))
    both = await send(
        gut, "support-sms", contact("SM3", ("phone", "+15550000001"), ("email", "bob@example.com"))
    )
    assert ann.customer_id is not None
    assert bob.customer_id is not None
    assert both.customer_id == ann.customer_id

    async def events(count: int) -> bool:
        return len(receiver.customer_events) >= count

    await eventually(lambda: events(1))
    await store.unmerge(bob.customer_id, now=now())
    await eventually(lambda: events(2))
    erasure = await store.erase_customer(bob.customer_id, now=now())
    assert erasure is not None
    await eventually(lambda: events(3))

    merged, unmerged, erased = receiver.customer_events
    assert merged["type"] == "com.channel-gateway.customer.merged.v1"
    assert merged["subject"] == ann.customer_id
    assert merged["data"]["survivor_id"] == ann.customer_id
    assert merged["data"]["merged_id"] == bob.customer_id
    assert merged["data"]["merged_refs"] == ["contact E2"]
    # The merged customer's next delivery names the records of both.
    await eventually(lambda: _delivered(receiver, 3))
    [after] = [a for a in receiver.arrivals if a.interaction.id == both.id]
    assert sorted(after.record_refs) == ["contact E2", "contact SM1"]
    # SM3 may have reached the CRM (as the survivor's) before the merge did.
    assert set(merged["data"]["survivor_refs"]) - {"contact SM3"} == {"contact SM1"}
    assert unmerged["type"] == "com.channel-gateway.customer.unmerged.v1"
    assert unmerged["data"]["merged_id"] == bob.customer_id
    assert erased["type"] == "com.channel-gateway.customer.erased.v1"
    assert erased["data"] == {
        "action": "erase",
        "id": erasure.id,
        "customer_id": bob.customer_id,
        "record_refs": ["contact E2"],
    }

    bob_id = bob.customer_id

    async def receipted() -> bool:
        [record] = await store.erasures_of(bob_id)
        return bool(record.receipts)

    await eventually(receipted)
    [record] = await store.erasures_of(bob.customer_id)
    [receipt] = record.receipts
    assert (receipt.backend, receipt.outcome, receipt.detail) == ("hook", "erased", None)
    assert receiver.problems == []


async def _crosswalk_known(gut: GatewayUnderTest, customer_id: str | None) -> bool:
    assert customer_id is not None
    return bool(await gut.gateway.store.crosswalk_of(customer_id, "hook"))


async def test_erasure_leaves_nothing_of_the_customer_in_the_store(
    gateway_factory: GatewayFactory, receiver: Receiver, tmp_path: Path, store_url: str
) -> None:
    receiver.behaviour = report_record_refs
    gut = await gateway_factory(config(receiver))
    store, now = gut.gateway.store, gut.gateway.clock
    secret_text = "my-account-number-is-98765"
    ann = await send(
        gut,
        "support-sms",
        contact("SM1", ("phone", "+15550000001"), name="Ann Erased", content={"text": secret_text}),
    )
    await send(
        gut,
        "support-email",
        contact(
            "E2",
            ("email", "ann.erased@example.com"),
            ours=("email", "desk@shop.example"),
            name="Ann Erased",
        ),
    )
    await send(  # merges the e-mail customer into the phone one
        gut,
        "support-sms",
        contact("SM3", ("phone", "+15550000001"), ("email", "ann.erased@example.com")),
    )
    await send(gut, "support-sms", contact("SM4", ("phone", "+15550000009"), name="Someone Else"))
    await eventually(lambda: _delivered(receiver, 4))
    assert ann.customer_id is not None
    await eventually(lambda: _crosswalk_known(gut, ann.customer_id))
    tree = {ann.customer_id, *(m.merged_id for m in (await _customer(gut, ann.customer_id)).merges)}
    assert len(tree) == 2

    erasure = await store.erase_customer(ann.customer_id, now=now())

    assert erasure is not None
    assert erasure.interactions == 3
    assert await store.get_customer(ann.customer_id) is None
    traces = ["+15550000001", "ann.erased@example.com", "Ann Erased", secret_text, *tree]
    rows = every_row(store_url)
    found = [(t, trace) for t, row in rows for trace in traces if any(trace in str(c) for c in row)]
    # Only the erasure request names the erased (opaque) customer ids.
    assert set(found) == {("erasures", c) for c in tree}
    assert sum(1 for table, _ in rows if table == "interactions") == 1  # someone else's is kept
    if store_url.startswith("sqlite:///"):
        # Deleted pages are zeroed and the WAL truncated: not even the files hold the text.
        assert [
            name for name, data in _files(tmp_path).items() if secret_text.encode() in data
        ] == []

    ann_id = ann.customer_id

    async def answered() -> bool:
        return bool((await store.erasures_of(ann_id))[0].receipts)

    await eventually(answered)
    erased = [e for e in receiver.customer_events if e["type"].endswith("customer.erased.v1")]
    assert [e["data"]["customer_id"] for e in erased] == [ann.customer_id]
    assert sorted(erased[0]["data"]["record_refs"]) == sorted(erasure.crosswalk["hook"])


async def _customer(gut: GatewayUnderTest, customer_id: str) -> CustomerRecord:
    customer = await gut.gateway.store.get_customer(customer_id)
    assert customer is not None
    return customer


def _files(directory: Path) -> dict[str, bytes]:
    """Return the store's files (database, WAL, shared memory) by name."""
    return {path.name: path.read_bytes() for path in directory.glob("gateway.db*")}


async def test_erasing_a_merged_customer_erases_the_person_and_is_found_by_either_id(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(config())
    store = gut.gateway.store
    ann = await send(gut, "support-sms", contact("SM1", ("phone", "+15550000001")))
    mail = await send(
        gut,
        "support-email",
        contact("E2", ("email", "ann@example.com"), ours=("email", "desk@shop.example")),
    )
    await send(
        gut, "support-sms", contact("SM3", ("phone", "+15550000001"), ("email", "ann@example.com"))
    )
    assert ann.customer_id is not None
    assert mail.customer_id is not None

    erasure = await store.erase_customer(mail.customer_id, now=gut.gateway.clock())

    assert erasure is not None
    assert erasure.customer_id == ann.customer_id  # the survivor: the person is the whole tree
    assert erasure.interactions == 3
    for customer_id in (ann.customer_id, mail.customer_id):
        assert await store.get_customer(customer_id) is None
        assert [e.id for e in await store.erasures_of(customer_id)] == [erasure.id]


async def test_a_delivery_after_a_merge_carries_the_survivor(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    merged = asyncio.Event()

    async def crm(interaction: Interaction, arrival: int) -> web.Response:
        if interaction.external_id == "E2" and not merged.is_set():
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({})

    receiver.behaviour = crm
    gut = await gateway_factory(config(receiver))
    ann = await send(gut, "support-sms", contact("SM1", ("phone", "+15550000001")))
    bob = await send(
        gut,
        "support-email",
        contact("E2", ("email", "bob@example.com"), ours=("email", "desk@shop.example")),
    )
    await eventually(lambda: _arrived(receiver, "E2"))
    await send(
        gut, "support-sms", contact("SM3", ("phone", "+15550000001"), ("email", "bob@example.com"))
    )
    merged.set()

    async def delivered() -> bool:
        [job] = await gut.gateway.store.deliveries_of(bob.id)
        return job.state == "delivered"  # the 200 came after the merge

    await eventually(delivered)
    stored = await gut.gateway.store.get_interaction(bob.id)
    assert isinstance(stored, Interaction)
    assert stored.customer_id == bob.customer_id  # the stored interaction keeps its history
    first, *_, last = [a.interaction for a in receiver.arrivals if a.interaction.id == bob.id]
    assert first.customer_id == bob.customer_id
    assert last.customer_id == ann.customer_id  # sent again after the merge: the survivor
    assert receiver.problems == []


async def _arrived(receiver: Receiver, external_id: str) -> bool:
    return external_id in receiver.external_ids()
