"""The backend against the fake HubSpot: one contact per customer, each interaction once."""

from __future__ import annotations

import orjson
import pytest
from conftest import BackendMaker
from fake_hubspot import DEFAULT_ASSOCIATIONS, FakeHubSpot

from gateway.errors import AuthenticationError, NotReadyError
from gateway.plugin import (
    CustomerErasure,
    CustomerMerge,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
    Retry,
)
from gateway.schema import Interaction
from gateway.testing import claimed_chat, customer_interactions, make_interaction

CUSTOMER = "cus_01KAXZ0000000000000000CVST"
OTHER = "cus_01KAXZ0000000000000000CVS2"
PHONE = "+15551230001"


def deliveries(*interactions: Interaction, refs: tuple[str, ...] = ()) -> list[Delivery]:
    return [Delivery(n, i, 1, refs) for n, i in enumerate(interactions, start=1)]


def sms(external_id: str, *, customer: str = CUSTOMER, **fields: object) -> Interaction:
    fields.setdefault("sender", {"identities": [{"kind": "phone", "value": PHONE}]})
    return make_interaction(
        channel={"id": "sms", "kind": "sms", "provider": "twilio"},
        external_id=external_id,
        customer_id=customer,
        conversation_id="conv_01KAXZ0000000000000000C0NV",
        **fields,
    )


async def test_one_customer_on_three_channels_is_one_contact_with_three_engagements(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend(tickets=True)
    outcomes = await backend.deliver(deliveries(*customer_interactions()))

    [contact] = hubspot.of_type("contacts")
    assert outcomes == [Delivered((f"contact {contact.id}",))] * 3
    assert contact.properties | {"createdate": "-"} == {
        "gateway_customer_id": CUSTOMER,
        "phone": "+15551230001",
        "email": "jane.doe@example.com",
        "firstname": "Jane",
        "createdate": "-",
    }
    kinds = {t: o.properties for t, o in hubspot.engagements()}
    assert kinds.keys() == {"communications", "calls", "emails"}
    assert kinds["communications"]["hs_communication_channel_type"] == "SMS"
    assert kinds["communications"]["hs_communication_logged_from"] == "CRM"
    assert kinds["communications"]["hs_timestamp"] == "2026-11-22T10:00:00.000Z"
    assert kinds["calls"]["hs_call_duration"] == "184000"
    assert kinds["calls"]["hs_call_status"] == "COMPLETED"
    assert kinds["calls"]["hs_call_direction"] == "INBOUND"
    assert kinds["calls"]["hs_call_from_number"] == PHONE
    assert kinds["calls"]["hs_call_recording_url"].startswith("https://api.twilio.com/")
    assert kinds["emails"]["hs_email_direction"] == "INCOMING_EMAIL"
    assert kinds["emails"]["hs_email_subject"] == "Order 1042"
    assert orjson.loads(kinds["emails"]["hs_email_headers"])["from"] == {
        "email": "jane.doe@example.com",
        "firstName": "Jane",
    }
    [ticket] = hubspot.of_type("tickets")
    assert ticket.properties["hs_pipeline"] == "0"
    assert ticket.properties["hs_pipeline_stage"] == "1"
    assert hubspot.associated("tickets", ticket.id, "contacts") == {contact.id}
    for object_type, engagement in hubspot.engagements():
        assert hubspot.associated(object_type, engagement.id, "contacts") == {contact.id}
        assert hubspot.associated(object_type, engagement.id, "tickets") == {ticket.id}
    # The association types came from the labels endpoint (the fake also lists a labeled one).
    used = {a[4] for a in hubspot.associations}
    assert used <= set(DEFAULT_ASSOCIATIONS.values())


async def test_start_creates_the_custom_properties_once(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    await make_backend(tickets=True)
    for object_type in ("contacts", "tickets", "communications", "calls", "emails", "notes"):
        assert "channel_gateway" in hubspot.groups[object_type]
    assert hubspot.properties["contacts"]["gateway_customer_id"]["hasUniqueValue"] is True
    assert hubspot.properties["calls"]["gateway_key"]["hasUniqueValue"] is True
    assert hubspot.properties["tickets"]["gateway_conversation_id"]["hasUniqueValue"] is True
    created = len(hubspot.requests_to("POST", r"/batch/create$"))

    await make_backend(tickets=True)
    assert len(hubspot.requests_to("POST", r"/batch/create$")) == created


async def test_a_hand_made_property_without_unique_values_is_not_trusted(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.properties["contacts"]["gateway_customer_id"] = {
        "name": "gateway_customer_id",
        "hasUniqueValue": False,
    }
    with pytest.raises(NotReadyError, match="does not require unique values"):
        await make_backend()


async def test_a_missing_scope_names_the_property_and_the_scope(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    body = {
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call.",
        "category": "MISSING_SCOPES",
        "errors": [{"message": "missing", "context": {"requiredGranularScopes": ["tickets"]}}],
    }
    hubspot.fail_next(status=403, body=body, path="/crm/v3/properties/tickets")
    backend = await make_backend(start=False, tickets=True)
    with pytest.raises(AuthenticationError) as caught:
        await backend.start()
    message = str(caught.value)
    assert "gateway_conversation_id" in message
    assert "needs the scope tickets" in message
    assert "grant the private app the scope(s) tickets" in message


async def test_a_contact_created_by_an_attempt_whose_answer_was_lost_is_found_again(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    hubspot.fail_next(status=503, path="/communications/batch/upsert")
    [first] = await backend.deliver(deliveries(sms("SM1")))
    assert isinstance(first, Retry)
    assert len(hubspot.of_type("contacts")) == 1

    [again] = await backend.deliver(deliveries(sms("SM1")))  # no refs: the answer was lost
    [contact] = hubspot.of_type("contacts")
    assert again == Delivered((f"contact {contact.id}",))
    assert len(hubspot.engagements()) == 1


async def test_an_existing_contact_is_adopted_by_email_and_nothing_typed_is_overwritten(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    existing = hubspot.seed("contacts", {"email": "jane.doe@example.com", "firstname": "Janet"})
    mail = customer_interactions()[2]
    [outcome] = await backend.deliver(deliveries(mail))
    assert outcome == Delivered((f"contact {existing.id}",))
    assert hubspot.of_type("contacts") == [existing]
    assert existing.properties["firstname"] == "Janet"
    assert existing.properties["gateway_customer_id"] == CUSTOMER


async def test_an_existing_contact_is_adopted_by_phone_unless_it_is_another_customers(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    theirs = hubspot.seed("contacts", {"phone": PHONE, "gateway_customer_id": OTHER})
    older = hubspot.seed("contacts", {"mobilephone": PHONE})
    [outcome] = await backend.deliver(deliveries(sms("SM1")))
    assert outcome == Delivered((f"contact {older.id}",))
    assert older.properties["gateway_customer_id"] == CUSTOMER
    assert theirs.properties["gateway_customer_id"] == OTHER
    assert len(hubspot.of_type("contacts")) == 2


async def test_search_lag_never_causes_a_duplicate(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.search_lag_s = 60.0  # nothing the gateway wrote is searchable during the test
    backend = await make_backend()
    for n in range(3):
        await backend.deliver(deliveries(sms(f"SM{n}")))
    assert len(hubspot.of_type("contacts")) == 1
    assert len(hubspot.engagements()) == 3


async def test_every_event_of_one_call_updates_one_call_record(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    events = [
        make_interaction(
            type="call",
            channel={"id": "voice", "kind": "voice", "provider": "twilio"},
            external_id=f"CA1/{status}",
            thread_external_id="CA1",
            customer_id=CUSTOMER,
            sender={"identities": [{"kind": "phone", "value": PHONE}]},
            content=None,
            call={"status": status, "duration_s": duration},
        )
        for status, duration in (("ringing", None), ("completed", 63))
    ]
    await backend.deliver(deliveries(events[0]))
    await backend.deliver(deliveries(events[1]))
    [(object_type, call)] = hubspot.engagements()
    assert object_type == "calls"
    assert call.properties["hs_call_status"] == "COMPLETED"
    assert call.properties["hs_call_duration"] == "63000"
    assert call.properties["gateway_key"] == "voice:call:CA1"


async def test_receipts_update_their_message_and_never_add(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    reply = sms("SM9", direction="outbound", sender={}, recipient={"identities": []})
    await backend.deliver(deliveries(reply))
    receipts = [
        make_interaction(
            type="status",
            direction="outbound",
            channel={"id": "sms", "kind": "sms", "provider": "twilio"},
            external_id=f"SM{n}/delivered",
            customer_id=CUSTOMER,
            content=None,
            status={"of_external_id": f"SM{n}", "state": "delivered"},
        )
        for n in (9, 404)
    ]
    outcomes = await backend.deliver(deliveries(*receipts))
    assert outcomes == [Delivered(), Delivered()]
    [(_, message)] = hubspot.engagements()
    assert message.properties["gateway_status"] == "delivered"


async def test_a_batch_of_a_hundred_customers_takes_a_few_requests(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend(batch_size=100)
    started = len(hubspot.requests)
    batch = [
        sms(f"SM{n}", customer=f"cus_01KAXZ00000000000000000{n:03d}",
            sender={"identities": [{"kind": "phone", "value": f"+1555100{n:04d}"}]})
        for n in range(100)
    ]  # fmt: skip
    outcomes = await backend.deliver(deliveries(*batch))
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert len(hubspot.of_type("contacts")) == 100
    assert len(hubspot.engagements()) == 100
    # read by customer id, search by phone, upsert contacts, upsert engagements, associate
    assert len(hubspot.requests) - started == 5


async def test_merges_follow_the_gateway_and_are_idempotent(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    [kept] = await backend.deliver(deliveries(sms("SM1")))
    mail = {"identities": [{"kind": "email", "value": "j@x.io"}]}
    [gone] = await backend.deliver(deliveries(sms("SM2", customer=OTHER, sender=mail)))
    assert isinstance(kept, Delivered)
    assert isinstance(gone, Delivered)
    merge = CustomerMerge(7, "merge", CUSTOMER, OTHER, "phone", kept.record_refs, gone.record_refs)
    assert await backend.merge_customers(merge) == Delivered(kept.record_refs)
    assert await backend.merge_customers(merge) == Delivered(kept.record_refs)
    assert len(hubspot.requests_to("POST", "/contacts/merge$")) == 1
    [survivor] = hubspot.of_type("contacts")
    assert f"contact {survivor.id}" == kept.record_refs[0]
    for object_type, engagement in hubspot.engagements():  # both moved to the survivor
        assert hubspot.associated(object_type, engagement.id, "contacts") == {survivor.id}

    unmerge = CustomerMerge(8, "unmerge", CUSTOMER, OTHER, "operator", kept.record_refs, ())
    refused = await backend.unmerge_customers(unmerge)
    assert isinstance(refused, Rejected)
    assert "HubSpot cannot unmerge contacts" in refused.reason


async def test_erasure_gdpr_deletes_and_a_second_try_succeeds(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    [delivered] = await backend.deliver(deliveries(sms("SM1")))
    assert isinstance(delivered, Delivered)
    erasure = CustomerErasure(3, CUSTOMER, delivered.record_refs)
    assert await backend.erase_customer(erasure) == Delivered()
    assert await backend.erase_customer(erasure) == Delivered()
    assert hubspot.of_type("contacts") == []
    assert hubspot.erased == [delivered.record_refs[0].removeprefix("contact ")]


async def test_the_local_budget_keeps_under_hubspots_limit(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.limit_per_10s = 30  # the fake refuses (fails the test) past 30 in 10 s
    backend = await make_backend(timeout="1s")  # starting takes ~20 requests
    outcomes: list[Outcome] = []
    for n in range(6):
        outcomes += await backend.deliver(deliveries(sms(f"SM{n}")))
    held = [o for o in outcomes if isinstance(o, Retry)]
    assert held, "the budget should have held some deliveries back"
    assert all(o.after_s is not None and 0 < o.after_s <= 10 for o in held), held


async def test_health_check_reads_one_contact(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    await backend.health_check()
    [request] = hubspot.requests_to("GET", "^/crm/v3/objects/contacts$")
    assert request.query == {"limit": "1"}


async def test_an_email_another_contact_has_is_not_added(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    [first] = await backend.deliver(deliveries(sms("SM1")))
    assert isinstance(first, Delivered)
    colleague = hubspot.seed("contacts", {"email": "jane.doe@example.com"})
    both = {
        "identities": [
            {"kind": "phone", "value": PHONE},
            {"kind": "email", "value": "jane.doe@example.com"},
        ]
    }
    [second] = await backend.deliver(deliveries(sms("SM2", sender=both), refs=first.record_refs))
    assert second == first
    contact = next(c for c in hubspot.of_type("contacts") if c is not colleague)
    assert "email" not in contact.properties


async def test_a_portal_that_fails_at_start_is_not_ready_yet(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    hubspot.fail_next(status=502, path="/labels$")
    backend = await make_backend(start=False)
    with pytest.raises(NotReadyError, match=r"portal set-up failed: .*HubSpot 502"):
        await backend.start()
    await backend.start()


async def test_health_check_never_spends_a_budget_deliveries_used_up(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend(timeout="1s")
    hubspot.rate_limit(retry_after=5)
    [outcome] = await backend.deliver(deliveries(sms("SM1")))
    assert isinstance(outcome, Retry)
    assert outcome.after_s == 5
    await backend.health_check()  # HubSpot said: nothing for 5 s
    assert not hubspot.requests_to("GET", "^/crm/v3/objects/contacts$")


async def test_two_new_customers_with_one_email_in_a_batch_are_two_contacts(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    mail = {"identities": [{"kind": "email", "value": "shared@example.com"}]}
    outcomes = await backend.deliver(
        deliveries(sms("SM1", sender=mail), sms("SM2", customer=OTHER, sender=mail))
    )
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    emails = sorted(c.properties.get("email", "") for c in hubspot.of_type("contacts"))
    assert emails == ["", "shared@example.com"]


async def test_the_daily_limit_holds_everything_back_for_an_hour(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    daily = hubspot.error_body(429, "You have reached your daily limit.")
    hubspot.fail_next(status=429, body=daily | {"policyName": "DAILY"})
    [first] = await backend.deliver(deliveries(sms("SM1")))
    [second] = await backend.deliver(deliveries(sms("SM2")))
    assert isinstance(first, Retry)
    assert isinstance(second, Retry)
    assert first.after_s == 3600.0
    assert first.attempted
    assert second.after_s is not None
    assert second.after_s > 3500
    assert not second.attempted  # held back: it costs no attempt of its retry budget


async def test_a_claimed_chat_is_logged_flagged_and_changes_no_contact(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    await backend.deliver(deliveries(*customer_interactions()))
    [contact] = hubspot.of_type("contacts")
    before = dict(contact.properties)
    [outcome] = await backend.deliver(deliveries(claimed_chat(CUSTOMER)))

    assert outcome == Delivered((f"contact {contact.id}",))
    assert hubspot.of_type("contacts") == [contact]
    assert contact.properties == before  # the stranger's phone and name never land on it
    [note] = hubspot.of_type("notes")
    assert note.properties["gateway_identity_claimed"] == "true"
    assert "Identity not verified" in note.properties["hs_note_body"]
    assert all("gateway_identity_claimed" not in o.properties for t, o in hubspot.engagements()
               if t != "notes")  # fmt: skip


async def test_a_claimed_email_never_adopts_the_contact_that_has_it(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    existing = hubspot.seed("contacts", {"email": "jane.doe@example.com", "firstname": "Jane"})
    [outcome] = await backend.deliver(deliveries(claimed_chat(OTHER)))

    [_, created] = hubspot.of_type("contacts")
    assert outcome == Delivered((f"contact {created.id}",))
    assert existing.properties.get("gateway_customer_id") is None
    assert created.properties | {"createdate": "-"} == {
        "gateway_customer_id": OTHER,
        "createdate": "-",
    }
