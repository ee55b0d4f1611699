"""The admin API's customer views: lookup, timeline, links, unmerge, proposals and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse

from gateway.documents import interaction_json, timestamp
from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.conftest import on_store
from tests.payloads import SECRET, message, webhook_backend
from tests.receiver import Receiver, report_record_refs
from tests.waiting import eventually


@pytest.fixture
def gateway_factory(gateway_factory: GatewayFactory, store_url: str) -> GatewayFactory:
    """Every test of this module on both stores."""
    return on_store(gateway_factory, store_url)


NOW = (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0)
"""The gateway's clock in these tests: due deliveries stay due, decisions have one time."""
AT = timestamp(NOW)
ANN, BOB, CAT, DAN = "+15550000001", "+15550000002", "+15550000003", "+15550000004"
OUR_NUMBER = "+15557654321"
JSON = {"Content-Type": "application/json"}


def config(**extra: Any) -> dict[str, Any]:
    """SMS goes to the `audit` log backend; WhatsApp is stored and forwarded nowhere."""
    return {
        "channels": {
            "sms": {"type": "generic", "kind": "sms", "secret": SECRET},
            "whatsapp": {"type": "generic", "kind": "whatsapp", "secret": SECRET},
        },
        "backends": {"audit": {"type": "log"}},
        "routes": [{"match": {"channel_kind": "sms"}, "to": ["audit"]}, {"to": []}],
        **extra,
    }


async def start(gateway_factory: GatewayFactory, **extra: Any) -> GatewayUnderTest:
    return await gateway_factory(config(**extra), clock=lambda: NOW)


async def send(
    gut: GatewayUnderTest,
    external_id: str,
    *phones: str,
    channel: str = "sms",
    at: str = "2026-11-22T10:00:00Z",
) -> Interaction:
    """Post a message from `phones` to our number; return it as stored."""
    body = message(external_id, phone=phones[0])
    body["occurred_at"] = at
    body["sender"]["identities"] = [{"kind": "phone", "value": p} for p in phones]
    body["recipient"] = {"identities": [{"kind": "phone", "value": OUR_NUMBER}]}
    response = await gut.post_signed(channel, body, SECRET)
    assert response.status == 200, await response.text()
    [interaction_id] = (await response.json())["ids"]
    stored = await gut.gateway.store.get_interaction(interaction_id)
    assert isinstance(stored, Interaction)
    assert stored.customer_id is not None
    return stored


async def answer(response: ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def error(response: ClientResponse, status: int, code: str) -> str:
    body = await answer(response, status)
    assert body["error"]["code"] == code
    return str(body["error"]["message"])


async def customer(gut: GatewayUnderTest, customer_id: str) -> dict[str, Any]:
    return dict(await answer(await gut.admin.get(f"/admin/customers/{customer_id}")))


def identity_values(document: dict[str, Any]) -> list[str]:
    return [i["value"] for i in document["identities"]]


async def test_find_a_customer_by_identity_and_show_it(gateway_factory: GatewayFactory) -> None:
    gut = await start(gateway_factory)
    ann = await send(gut, "m-1", ANN)

    found = await answer(await gut.admin.get("/admin/customers?identity=phone:(555) 000-0001"))
    [document] = found["customers"]
    assert document == {
        "id": ann.customer_id,
        "display_name": "Jane Doe",
        "identities": [{"kind": "phone", "value": ANN, "verified": True}],
        "created_at": document["created_at"],
        "merged_into": None,
        "crosswalk": {},
        "merges": [],
    }
    assert NOW - timedelta(minutes=2) < datetime.fromisoformat(document["created_at"]) <= NOW
    assert await customer(gut, str(ann.customer_id)) == document

    unknown = await gut.admin.get("/admin/customers", params={"identity": "email:Who@Example.com"})
    assert await answer(unknown) == {"customers": []}


async def test_customer_lookups_refuse_bad_input(gateway_factory: GatewayFactory) -> None:
    gut = await start(gateway_factory)
    admin = gut.admin

    refusals = {
        "": "name the identity: ?identity=KIND:VALUE, e.g. phone:+14155550100",
        "?identity=": "name the identity: ?identity=KIND:VALUE, e.g. phone:+14155550100",
        f"?identity={ANN}": (
            f"identity: expected KIND:VALUE such as phone:+14155550100, got '{ANN}'"
        ),
        "?identity=phone:12": "identity: '12' is not a valid phone",
        "?identity=Bad Kind:x": "identity: 'Bad Kind:x' is not a valid identity: "
        "String should match pattern '^[a-z][a-z0-9_]*$'",
    }
    for query, expected in refusals.items():
        response = await admin.get("/admin/customers" + query.replace("+", "%2B"))
        assert await error(response, 400, "bad_request") == expected
    missing = "cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB"
    assert await error(await admin.get(f"/admin/customers/{missing}"), 404, "not_found") == (
        f"no customer {missing}"
    )
    for path in ("timeline", "erasures"):
        await error(await admin.get(f"/admin/customers/{missing}/{path}"), 404, "not_found")
    await error(await admin.delete(f"/admin/customers/{missing}"), 404, "not_found")
    await error(await admin.post(f"/admin/customers/{missing}/unmerge"), 404, "not_found")


async def test_customer_routes_need_the_admin_token(gateway_factory: GatewayFactory) -> None:
    gut = await gateway_factory(config(admin={"token": "admin-t0ken"}))
    response = await gut.admin.get("/admin/customers", params={"identity": f"phone:{ANN}"})
    await error(response, 401, "unauthorized")
    response = await gut.admin.get(
        "/admin/customers",
        params={"identity": f"phone:{ANN}"},
        headers={"Authorization": "Bearer admin-t0ken"},
    )
    assert await answer(response) == {"customers": []}


async def test_linking_another_customers_phone_merges_into_the_older_and_unmerge_restores(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await start(gateway_factory)
    ann_id = str((await send(gut, "m-1", ANN)).customer_id)
    bob_id = str((await send(gut, "m-2", BOB)).customer_id)
    ann_before, bob_before = await customer(gut, ann_id), await customer(gut, bob_id)
    assert ann_before["created_at"] < bob_before["created_at"]

    # Linked from the younger customer's side: the older one survives all the same.
    linked = await answer(
        await gut.admin.post(
            f"/admin/customers/{bob_id}/identities", json={"identity": "phone:(555) 000-0001"}
        )
    )
    merge = {
        "id": 1,
        "action": "merge",
        "survivor_id": ann_id,
        "merged_id": bob_id,
        "cause": f"operator linked phone:{ANN}",
        "interaction_id": None,
        "created_at": AT,
        "undone_at": None,
    }
    assert linked == {
        "action": "merged",
        "customer": {
            **ann_before,
            "identities": ann_before["identities"] + bob_before["identities"],
            "merges": [merge],
        },
    }
    assert await customer(gut, bob_id) == {**bob_before, "merged_into": ann_id, "merges": [merge]}
    by_phone = await gut.admin.get("/admin/customers", params={"identity": f"phone:{BOB}"})
    assert await answer(by_phone) == {"customers": [linked["customer"]]}
    again = await gut.admin.post(
        f"/admin/customers/{ann_id}/identities", json={"kind": "phone", "value": BOB}
    )
    assert await answer(again) == {"action": "unchanged", "customer": linked["customer"]}

    unmerged = await answer(await gut.admin.post(f"/admin/customers/{bob_id}/unmerge"))
    log = [
        {**merge, "undone_at": AT},
        {
            "id": 2,
            "action": "unmerge",
            "survivor_id": ann_id,
            "merged_id": bob_id,
            "cause": "operator undid merge 1",
            "interaction_id": None,
            "created_at": AT,
            "undone_at": None,
        },
    ]
    assert unmerged == {
        "unmerge": log[1],
        "customers": [{**bob_before, "merges": log}, {**ann_before, "merges": log}],
    }
    assert await customer(gut, ann_id) == {**ann_before, "merges": log}
    assert await customer(gut, bob_id) == {**bob_before, "merges": log}
    not_merged = await error(
        await gut.admin.post(f"/admin/customers/{bob_id}/unmerge"), 409, "conflict"
    )
    assert not_merged.startswith(f"customer {bob_id} is not merged into another")


async def test_linking_a_new_identity_and_refusals(gateway_factory: GatewayFactory) -> None:
    gut = await start(gateway_factory)
    ann_id = str((await send(gut, "m-1", ANN)).customer_id)
    path = f"/admin/customers/{ann_id}/identities"

    linked = await answer(
        await gut.admin.post(path, json={"kind": "email", "value": "Ann@Example.COM"})
    )
    assert linked["action"] == "linked"
    assert linked["customer"]["identities"] == [
        {"kind": "phone", "value": ANN, "verified": True},
        {"kind": "email", "value": "ann@example.com", "verified": True},
    ]
    assert linked["customer"]["merges"] == []

    shape = 'send {"identity": "KIND:VALUE"} or {"kind": "KIND", "value": "VALUE"}'
    bodies: list[Any] = [[], {"identity": 5}, {"kind": "email"}, {}]
    for body in bodies:
        assert await error(await gut.admin.post(path, json=body), 400, "bad_request") == shape
    not_json = await error(await gut.admin.post(path, data=b"{", headers=JSON), 400, "bad_request")
    assert not_json.startswith("the body is not JSON (")
    assert not_json.endswith(shape)
    invalid = await gut.admin.post(path, json={"identity": "email:nobody"})
    assert await error(invalid, 400, "bad_request") == "identity: 'nobody' is not a valid email"
    missing = "cus_01JDQ4K6Z8W5N7T0M3F2V9X1AB"
    elsewhere = f"/admin/customers/{missing}/identities"
    unknown = await gut.admin.post(elsewhere, json={"identity": f"phone:{BOB}"})
    assert await error(unknown, 404, "not_found") == f"no customer {missing}"
    blocked = await gut.admin.post(path, json={"identity": "email:Support@shop.example"})
    assert await error(blocked, 409, "conflict") == (
        "email:support@shop.example is blocked by identity.rules; it links nobody"
    )
    ours = await gut.admin.post(path, json={"identity": f"phone:{OUR_NUMBER}"})
    assert await error(ours, 409, "conflict") == (
        f"phone:{OUR_NUMBER} is one of your own numbers or addresses; it links nobody"
    )
    assert identity_values(await customer(gut, ann_id)) == [ANN, "ann@example.com"]


async def test_timeline_spans_channels_in_occurrence_order_with_delivery_states(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await start(gateway_factory)
    store = gut.gateway.store
    late = await send(gut, "m-1", ANN, at="2026-11-22T11:00:00Z")
    early = await send(gut, "w-1", ANN, channel="whatsapp", at="2026-11-22T09:00:00Z")
    middle = await send(gut, "m-2", ANN, at="2026-11-22T10:00:00Z")
    await send(gut, "m-3", BOB)  # another customer's: not in Ann's timeline
    customer_id = str(late.customer_id)

    async def sms_delivered() -> bool:
        deliveries = [d for i in (late, middle) for d in await store.deliveries_of(i.id)]
        return all(d.state == "delivered" for d in deliveries)

    await eventually(sms_delivered)
    path = f"/admin/customers/{customer_id}/timeline"
    timeline = await answer(await gut.admin.get(path))
    assert timeline["next_cursor"] is None
    entries = timeline["interactions"]
    ordered = [early, middle, late]
    assert [e["interaction"]["id"] for e in entries] == [i.id for i in ordered]
    for entry, interaction in zip(entries, ordered, strict=True):
        stored = await store.get_interaction(interaction.id)
        assert stored is not None
        assert entry["interaction"] == interaction_json(stored)
    assert [e["interaction"]["channel"]["kind"] for e in entries] == ["whatsapp", "sms", "sms"]
    assert entries[0]["deliveries"] == []  # whatsapp is routed nowhere
    for entry in entries[1:]:
        [delivery] = entry["deliveries"]
        assert delivery == {
            "id": delivery["id"],
            "interaction_id": entry["interaction"]["id"],
            "backend": "audit",
            "state": "delivered",
            "attempts": 1,
            "last_error": None,
            "next_attempt_at": None,
        }

    first = await answer(await gut.admin.get(path, params={"limit": "2"}))
    assert [e["interaction"]["id"] for e in first["interactions"]] == [early.id, middle.id]
    assert first["next_cursor"] == middle.id
    rest = await answer(await gut.admin.get(path, params={"limit": "2", "cursor": middle.id}))
    assert [e["interaction"]["id"] for e in rest["interactions"]] == [late.id]
    assert rest["next_cursor"] is None
    stranger = await gut.admin.get(path, params={"cursor": "nonsense"})
    await error(stranger, 400, "bad_cursor")
    for limit in ("0", "1001", "ten"):
        await error(await gut.admin.get(path, params={"limit": limit}), 400, "bad_request")


async def test_merge_proposals_accept_and_reject(gateway_factory: GatewayFactory) -> None:
    gut = await start(gateway_factory, identity={"rules": {"limits": {"phone": 1}}})
    ann_id = str((await send(gut, "m-1", ANN)).customer_id)
    bob_id = str((await send(gut, "m-2", BOB)).customer_id)
    both = await send(gut, "m-3", ANN, BOB)  # would give one customer two phones: proposed
    cat_id = str((await send(gut, "m-4", CAT)).customer_id)
    dan_id = str((await send(gut, "m-5", DAN)).customer_id)
    cat_and_dan = await send(gut, "m-6", CAT, DAN)
    assert (both.customer_id, cat_and_dan.customer_id) == (ann_id, cat_id)

    pending = await answer(await gut.admin.get("/admin/merge-proposals"))
    reason = "the merged customer would have more than 1 phone identities"
    first, second = pending["proposals"]
    assert pending["next_cursor"] is None
    assert first == {
        "id": 1,
        "customer_id": ann_id,
        "identity": {"kind": "phone", "value": BOB, "verified": True},
        "other_customer_id": bob_id,
        "reason": reason,
        "interaction_id": both.id,
        "state": "pending",
        "created_at": first["created_at"],
        "decided_at": None,
    }
    assert second == {
        **first,
        "id": 2,
        "customer_id": cat_id,
        "identity": {"kind": "phone", "value": DAN, "verified": True},
        "other_customer_id": dan_id,
        "interaction_id": cat_and_dan.id,
        "created_at": second["created_at"],
    }
    assert (await customer(gut, bob_id))["merged_into"] is None

    accepted = await answer(await gut.admin.post("/admin/merge-proposals/1/accept"))
    assert accepted == {"proposal": {**first, "state": "accepted", "decided_at": AT}}
    bob = await customer(gut, bob_id)
    assert bob["merged_into"] == ann_id
    assert bob["merges"][0]["cause"] == "operator accepted proposal 1"
    assert identity_values(await customer(gut, ann_id)) == [ANN, BOB]

    rejected = await answer(await gut.admin.post("/admin/merge-proposals/2/reject"))
    assert rejected == {"proposal": {**second, "state": "rejected", "decided_at": AT}}
    assert (await customer(gut, dan_id))["merged_into"] is None
    await send(gut, "m-7", CAT, DAN)  # a rejected link is not proposed again
    assert await answer(await gut.admin.get("/admin/merge-proposals")) == {
        "proposals": [],
        "next_cursor": None,
    }

    by_state = {
        state: await answer(await gut.admin.get("/admin/merge-proposals", params={"state": state}))
        for state in ("accepted", "rejected", "all")
    }
    assert by_state["accepted"]["proposals"] == [accepted["proposal"]]
    assert by_state["rejected"]["proposals"] == [rejected["proposal"]]
    assert by_state["all"]["proposals"] == [accepted["proposal"], rejected["proposal"]]
    page = {"state": "all", "limit": "1"}
    one = await answer(await gut.admin.get("/admin/merge-proposals", params=page))
    assert (one["proposals"], one["next_cursor"]) == ([accepted["proposal"]], 1)
    two = await answer(await gut.admin.get("/admin/merge-proposals", params={**page, "cursor": 1}))
    assert (two["proposals"], two["next_cursor"]) == ([rejected["proposal"]], 2)

    decided = await error(await gut.admin.post("/admin/merge-proposals/1/reject"), 409, "conflict")
    assert decided == "proposal 1 was accepted already"
    decided = await error(await gut.admin.post("/admin/merge-proposals/2/accept"), 409, "conflict")
    assert decided == "proposal 2 was rejected already"
    await error(await gut.admin.post("/admin/merge-proposals/99/accept"), 404, "not_found")
    await error(await gut.admin.post("/admin/merge-proposals/one/reject"), 400, "bad_request")
    for query, code in (
        ({"state": "maybe"}, "bad_request"),
        ({"limit": "0"}, "bad_request"),
        ({"cursor": "x"}, "bad_cursor"),
    ):
        response = await gut.admin.get("/admin/merge-proposals", params=query)
        await error(response, 400, code)


@pytest.fixture
def receiver(receiver: Receiver) -> Receiver:
    """The shared consumer, answering as a CRM that reports the record it wrote."""
    receiver.behaviour = report_record_refs
    return receiver


async def test_erasure_deletes_the_customer_and_keeps_the_receipts(
    gateway_factory: GatewayFactory, receiver: Receiver, store_url: str
) -> None:
    settings = config()
    settings["backends"] = {"hook": webhook_backend(receiver.url)}
    settings["routes"] = []
    gut = await gateway_factory(settings, clock=lambda: NOW)
    first = await send(gut, "m-1", ANN)
    await send(gut, "w-1", ANN, channel="whatsapp")
    customer_id = str(first.customer_id)

    async def crosswalk_known() -> bool:
        crosswalk = (await customer(gut, customer_id))["crosswalk"]
        return bool(len(crosswalk.get("hook", [])) == 2)

    await eventually(crosswalk_known)
    crosswalk = (await customer(gut, customer_id))["crosswalk"]
    assert sorted(crosswalk["hook"]) == ["contact m-1", "contact w-1"]
    erased = await answer(await gut.admin.delete(f"/admin/customers/{customer_id}"), 202)
    erased["erasure"].pop("scrubbed_at")  # set once the files are scrubbed, maybe later
    erasure = {
        "id": 1,
        "customer_id": customer_id,
        "requested_at": AT,
        "interactions": 2,
        "crosswalk": crosswalk,
        "receipts": [],
    }
    assert erased == {"erasure": erasure}

    gone = await error(await gut.admin.get(f"/admin/customers/{customer_id}"), 404, "not_found")
    assert gone == (
        f"customer {customer_id} was erased; see /admin/customers/{customer_id}/erasures"
    )
    by_phone = await gut.admin.get("/admin/customers", params={"identity": f"phone:{ANN}"})
    assert await answer(by_phone) == {"customers": []}
    await error(await gut.admin.get(f"/admin/interactions/{first.id}"), 404, "not_found")
    await error(await gut.admin.get(f"/admin/customers/{customer_id}/timeline"), 404, "not_found")
    await error(await gut.admin.delete(f"/admin/customers/{customer_id}"), 404, "not_found")

    receipt = {"backend": "hook", "outcome": "erased", "detail": None, "finished_at": AT}

    async def receipt_kept() -> bool:
        listed = await answer(await gut.admin.get(f"/admin/customers/{customer_id}/erasures"))
        [shown] = listed["erasures"]
        # SQLite scrubs its files; PostgreSQL keeps dead rows until VACUUM, and WAL and backups
        # longer, so it never claims to have (docs/deployment.md).
        scrubbed = (shown.pop("scrubbed_at") is not None) == store_url.startswith("sqlite")
        return scrubbed and bool(shown == {**erasure, "receipts": [receipt]})

    await eventually(receipt_kept)
    [event] = [e for e in receiver.customer_events if e["type"].endswith("customer.erased.v1")]
    assert event["data"]["customer_id"] == customer_id
    assert receiver.problems == []
