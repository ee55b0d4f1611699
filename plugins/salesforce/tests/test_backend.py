"""The `salesforce` backend against the fake org: tokens, start-up checks, writes, limits."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from conftest import CLIENT_SECRET, BackendMaker
from fake_salesforce import FakeSalesforce
from gateway_salesforce import SalesforceSettings
from gateway_salesforce.records import QUERY_CHARS, soql_in
from pydantic import ValidationError

from gateway.errors import AuthenticationError, NotReadyError
from gateway.plugin import CustomerErasure, CustomerMerge, Delivered, Delivery, Rejected, Retry
from gateway.schema import Interaction
from gateway.test_builders import CUSTOMER_EMAIL, CUSTOMER_PHONE
from gateway.testing import claimed_chat, customer_interactions, make_interaction

CUSTOMER = "cus_01KAXZ0000000000000000CVST"
OTHER = "cus_01KAXZ0000000000000000CVS2"


def deliveries(interactions: list[Interaction], refs: tuple[str, ...] = ()) -> list[Delivery]:
    return [Delivery(n, i, 1, refs) for n, i in enumerate(interactions, start=1)]


def receipt(of: str, state: str = "read", channel: str = "support-sms") -> Interaction:
    return make_interaction(
        type="status",
        channel={"id": channel, "kind": "sms", "provider": "twilio"},
        content=None,
        status={"of_external_id": of, "state": state},
        customer_id=CUSTOMER,
    )


async def test_one_contact_one_case_and_a_task_per_interaction(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend(cases=True)
    outcomes = await backend.deliver(deliveries(customer_interactions()))
    [contact] = org.of_type("Contact")
    assert outcomes == [Delivered(record_refs=(f"contact {contact['Id']}",))] * 3
    assert contact["Gateway_Customer_Id__c"] == CUSTOMER
    assert (contact["LastName"], contact["Phone"], contact["Email"]) == (
        "Jane",
        CUSTOMER_PHONE,
        CUSTOMER_EMAIL,
    )
    [case] = org.of_type("Case")
    assert (case["ContactId"], case["Status"]) == (contact["Id"], "New")
    assert case["Origin"] == "Web"  # the conversation opened with an SMS
    tasks = org.of_type("Task")
    assert [t["TaskSubtype"] for t in tasks] == ["Task", "Call", "Email"]
    assert {(t["WhoId"], t["WhatId"], t["Status"]) for t in tasks} == {
        (contact["Id"], case["Id"], "Completed")
    }
    call = tasks[1]
    assert (call["CallType"], call["CallDurationInSeconds"]) == ("Inbound", 184)
    assert call["CallObject"] == "CA0000000000000000000000000000c0f2"
    assert "Recording: https://api.twilio.com/" in call["Description"]
    assert tasks[2]["Subject"].startswith("E-mail: ")


async def test_a_second_delivery_reuses_the_contact_and_fills_only_empty_fields(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms, _, email = customer_interactions()
    [first] = await backend.deliver(deliveries([sms]))
    assert isinstance(first, Delivered)
    [contact] = org.of_type("Contact")
    contact["LastName"] = "Doe-Smith"  # a person edited the contact in Salesforce
    assert "Email" not in contact
    [second] = await backend.deliver(deliveries([email], first.record_refs))
    assert second == first
    assert [c["Id"] for c in org.of_type("Contact")] == [contact["Id"]]
    assert (contact["LastName"], contact["Email"]) == ("Doe-Smith", CUSTOMER_EMAIL)


async def test_a_placeholder_name_gives_way_to_a_real_one(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    phone = {"identities": [{"kind": "phone", "value": "+15550001111"}]}
    await backend.deliver(deliveries([make_interaction(sender=phone, customer_id=CUSTOMER)]))
    [contact] = org.of_type("Contact")
    assert contact["LastName"] == "+15550001111"
    named = {**phone, "display_name": "Ana Ruiz Diaz"}
    await backend.deliver(deliveries([make_interaction(sender=named, customer_id=CUSTOMER)]))
    assert (contact["FirstName"], contact["LastName"]) == ("Ana Ruiz", "Diaz")


async def test_call_events_make_one_task_and_its_subtype_is_never_updated(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    voice = {"id": "voice", "kind": "voice", "provider": "twilio"}
    phone = {"identities": [{"kind": "phone", "value": "+15551234567"}]}
    events = [
        make_interaction(type="call", channel=voice, external_id=f"CA1:{status}",
                         thread_external_id="CA1", content=None, sender=phone,
                         customer_id=CUSTOMER, call={"status": status, **extra})
        for status, extra in (("ringing", {}), ("completed", {"duration_s": 63}))
    ]  # fmt: skip
    await backend.deliver(deliveries(events[:1]))
    await backend.deliver(deliveries(events[1:]))  # an update: TaskSubtype must not be sent
    [task] = org.of_type("Task")
    assert (task["TaskSubtype"], task["CallDurationInSeconds"]) == ("Call", 63)
    assert task["Gateway_Interaction_Id__c"] == "voice:call:CA1"


async def test_receipts_update_their_message_and_never_add_a_task(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms = customer_interactions()[0]
    outcomes = await backend.deliver(
        deliveries([sms, receipt(sms.external_id, "delivered"), receipt("SMunknown")])
    )
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    await backend.deliver(deliveries([receipt(sms.external_id, "read")]))
    [task] = org.of_type("Task")
    assert task["Gateway_Delivery_Status__c"] == "read"


async def test_receipts_are_only_acknowledged_without_a_status_field(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    org.drop_field("Task", "Gateway_Delivery_Status__c")
    backend = await make_backend(delivery_status_field=None)
    [outcome] = await backend.deliver(deliveries([receipt("SM1")]))
    assert outcome == Delivered()
    assert org.requests_to("GET", "/query$") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("drop", "Task", "Gateway_Interaction_Id__c"),
            "Task.Gateway_Interaction_Id__c is missing: create it on Task as Text(255), "
            "External ID, Unique",
        ),
        (
            ("change", "Contact", "Gateway_Customer_Id__c", {"external_id": False}),
            "Contact.Gateway_Customer_Id__c is not an External ID: edit it and tick External ID",
        ),
        (
            ("change", "Case", "Gateway_Conversation_Id__c", {"unique": False}),
            "Case.Gateway_Conversation_Id__c is not Unique",
        ),
        (
            ("change", "Task", "CallType", {"picklist": ("Internal",)}),
            "Task.CallType has no active picklist value 'Inbound'",
        ),
        (
            ("change", "Task", "CallDurationInSeconds", {"updateable": False}),
            "Task.CallDurationInSeconds is read-only for the run-as user",
        ),
    ],
)
async def test_start_says_exactly_what_the_org_lacks(
    org: FakeSalesforce, make_backend: BackendMaker, change: tuple[Any, ...], message: str
) -> None:
    action, sobject, name, *rest = change
    if action == "drop":
        org.drop_field(sobject, name)
    else:
        org.change_field(sobject, name, **rest[0])
    backend = await make_backend(start=False, cases=True)
    with pytest.raises(NotReadyError) as caught:
        await backend.start()
    assert message in str(caught.value)
    org.schema[sobject][name] = FakeSalesforce().schema[sobject][name]  # the admin fixes it
    await backend.start()


async def test_start_leaves_cases_alone_unless_asked(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    del org.schema["Case"]
    await make_backend()
    assert org.requests_to("GET", "/Case/describe") == []


async def test_wrong_client_credentials_raise_a_clear_authentication_error(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    org.client_secret = "another-secret"
    backend = await make_backend(start=False)
    with pytest.raises(AuthenticationError) as caught:
        await backend.start()
    text = str(caught.value)
    assert "invalid_client: invalid client credentials" in text
    assert "client credentials flow with a run-as user" in text
    assert CLIENT_SECRET not in text


async def test_an_expired_token_is_renewed_once(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    org.expire_tokens()
    outcomes = await backend.deliver(deliveries(customer_interactions()[:1]))
    assert isinstance(outcomes[0], Delivered)
    assert len(org.requests_to("POST", "/services/oauth2/token")) == 2
    org.fail_next(2, status=401)  # refused again after the renewal: the credentials are bad
    with pytest.raises(AuthenticationError):
        await backend.health_check()


async def test_concurrent_workers_share_one_token_request(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    org.expire_tokens()
    await asyncio.gather(*(backend.health_check() for _ in range(5)))
    assert len(org.requests_to("POST", "/services/oauth2/token")) == 2


async def test_the_daily_request_limit_holds_deliveries_back_for_an_hour(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    limit = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    org.fail_next(status=403, body=limit)
    [outcome] = await backend.deliver(deliveries(customer_interactions()[:1]))
    assert isinstance(outcome, Retry), outcome
    assert outcome.after_s == 3600
    assert outcome.attempted
    assert "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded." in outcome.reason
    sent = len(org.requests)
    [held] = await backend.deliver(deliveries(customer_interactions()[1:2]))
    assert isinstance(held, Retry)
    assert not held.attempted
    assert held.after_s
    assert len(org.requests) == sent, "nothing may be sent while the limit is used up"


async def test_an_ambiguous_external_id_is_rejected(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    org.fail_next(status=300, body=["/services/data/v66.0/sobjects/Contact/003A", "/003B"])
    [outcome] = await backend.deliver(deliveries(customer_interactions()[:1]))
    assert isinstance(outcome, Rejected), outcome
    assert "Salesforce 300" in outcome.reason
    assert "make the field Unique" in outcome.reason


async def test_a_refused_contact_rejects_only_its_customer(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    org.refused_keys.add(OTHER)  # a validation rule refuses the other customer's Contact
    other = make_interaction(customer_id=OTHER)
    outcomes = await backend.deliver(deliveries([other, customer_interactions()[0]]))
    assert isinstance(outcomes[0], Rejected), outcomes
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in outcomes[0].reason
    assert isinstance(outcomes[1], Delivered)
    assert len(org.of_type("Contact")) == len(org.of_type("Task")) == 1


async def test_usage_near_the_daily_limit_is_logged(
    org: FakeSalesforce, make_backend: BackendMaker, caplog: pytest.LogCaptureFixture
) -> None:
    org.daily_limit = 10
    backend = await make_backend()
    with caplog.at_level(logging.WARNING):
        for _ in range(8):
            await backend.health_check()
    warnings = [r.getMessage() for r in caplog.records if "API requests" in r.getMessage()]
    assert len(warnings) == 1
    assert "of its 10 API requests" in warnings[0]


async def test_merge_moves_tasks_and_cases_to_the_survivor(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend(cases=True)
    sms, call, _ = customer_interactions()
    other = customer_interactions(
        customer_id=OTHER, conversation_id="conv_01KAXZ0000000000000000C0N2"
    )
    [kept] = await backend.deliver(deliveries([sms]))
    [gone] = await backend.deliver(deliveries([other[2]]))
    assert isinstance(kept, Delivered)
    assert isinstance(gone, Delivered)
    merge = CustomerMerge(1, "merge", CUSTOMER, OTHER, "phone", kept.record_refs, gone.record_refs)
    for _ in range(2):  # idempotent
        assert await backend.merge_customers(merge) == Delivered(record_refs=kept.record_refs)
    [contact] = org.of_type("Contact")
    assert f"contact {contact['Id']}" == kept.record_refs[0]
    assert {t["WhoId"] for t in org.of_type("Task")} == {contact["Id"]}
    assert {c["ContactId"] for c in org.of_type("Case")} == {contact["Id"]}
    assert isinstance(await backend.unmerge_customers(merge), Rejected)
    del call


async def test_merge_into_a_survivor_without_a_contact_adopts_the_merged_one(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    [gone] = await backend.deliver(deliveries([customer_interactions(customer_id=OTHER)[0]]))
    assert isinstance(gone, Delivered)
    merge = CustomerMerge(2, "merge", CUSTOMER, OTHER, "email", (), gone.record_refs)
    assert await backend.merge_customers(merge) == Delivered(record_refs=gone.record_refs)
    [contact] = org.of_type("Contact")
    assert contact["Gateway_Customer_Id__c"] == CUSTOMER
    await backend.deliver(deliveries(customer_interactions()[:1]))
    assert len(org.of_type("Contact")) == 1


async def test_erasure_deletes_tasks_cases_and_the_contact_idempotently(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    org.page_size = 2  # the Task query comes back in pages
    backend = await make_backend(cases=True)
    outcomes = await backend.deliver(deliveries(customer_interactions()))
    refs = outcomes[0].record_refs  # type: ignore[union-attr]
    keep = org.add("Task", Subject="someone else's")
    erasure = CustomerErasure(1, CUSTOMER, refs)
    for _ in range(2):
        assert await backend.erase_customer(erasure) == Delivered()
    assert org.of_type("Contact") == []
    assert org.of_type("Case") == []
    assert [t["Id"] for t in org.of_type("Task")] == [keep]


async def test_odd_provider_ids_are_quoted_in_soql_and_found_again(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    odd = make_interaction(external_id="it's a \\ back\nslash", customer_id=CUSTOMER)
    for _ in range(2):
        [outcome] = await backend.deliver(deliveries([odd]))
        assert isinstance(outcome, Delivered), outcome
    [task] = org.of_type("Task")
    assert task["Gateway_Interaction_Id__c"] == f"web:{odd.external_id}"


def test_soql_lists_are_split_to_keep_each_query_short() -> None:
    chunks = soql_in(f"{n:0200d}" for n in range(200))
    assert len(chunks) > 1
    assert all(len(chunk) <= QUERY_CHARS for chunk in chunks)
    assert sum(chunk.count("'") for chunk in chunks) == 400


def test_the_my_domain_url_must_be_https() -> None:
    block = {"type": "salesforce", "instance_url": "http://acme.my.salesforce.com",
             "client_id": "id", "client_secret": "s"}  # fmt: skip
    with pytest.raises(ValidationError, match="must be https"):
        SalesforceSettings.model_validate(block)


async def test_a_claimed_chat_is_a_marked_task_and_changes_no_contact(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    """Even empty fields and a placeholder name stay as they are."""
    contact_id = org.add("Contact", LastName=CUSTOMER_PHONE, Gateway_Customer_Id__c=CUSTOMER)
    [contact] = org.of_type("Contact")
    before = dict(contact)
    backend = await make_backend()
    [outcome] = await backend.deliver(deliveries([claimed_chat()]))

    assert outcome == Delivered(record_refs=(f"contact {contact_id}",))
    assert org.of_type("Contact") == [before]
    assert org.requests_to("PATCH", "/Contact/") == []
    [task] = org.of_type("Task")
    assert task["WhoId"] == contact_id
    assert task["Description"].splitlines()[:2] == [
        f"Web chat inbound via web-form from Max Stranger, +15550000002, {CUSTOMER_EMAIL}",
        "Identity not verified: the sender may not be this customer.",
    ]


async def test_a_claimed_chat_of_a_customer_without_a_contact_creates_a_bare_one(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    [outcome] = await backend.deliver(deliveries([claimed_chat()]))
    assert isinstance(outcome, Delivered), outcome
    [contact] = org.of_type("Contact")
    assert {k: v for k, v in contact.items() if k != "Id"} == {
        "Gateway_Customer_Id__c": CUSTOMER,
        "LastName": "Unknown",
    }


async def test_an_asserted_identity_never_fills_a_contact(
    org: FakeSalesforce, make_backend: BackendMaker
) -> None:
    """Her verified phone brought an e-mail address nobody checked: only the phone is filled."""
    backend = await make_backend()
    identities = [
        {"kind": "email", "value": "typed@example.com", "verified": False},
        {"kind": "phone", "value": CUSTOMER_PHONE},
    ]
    chat = make_interaction(customer_id=CUSTOMER, sender={"identities": identities})
    await backend.deliver(deliveries([chat]))
    [contact] = org.of_type("Contact")
    assert (contact["LastName"], contact["Phone"]) == (CUSTOMER_PHONE, CUSTOMER_PHONE)
    assert "Email" not in contact
