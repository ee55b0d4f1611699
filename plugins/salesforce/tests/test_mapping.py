"""What an interaction becomes in Salesforce: keys, Task and Case fields, Contact changes."""

from __future__ import annotations

from gateway_salesforce.mapping import (
    KEY_LENGTH,
    case_fields,
    contact_changes,
    receipt_key,
    receipt_value,
    task_fields,
    task_key,
)

from gateway.schema import Interaction
from gateway.testing import customer_interactions, make_interaction

PHONE = {"identities": [{"kind": "phone", "value": "+15550001111"}]}


def test_a_message_key_is_channel_and_provider_id_and_a_receipt_finds_it() -> None:
    sms = customer_interactions()[0]
    key = task_key(sms)
    assert key == f"support-sms:{sms.external_id}"
    status = {"of_external_id": sms.external_id, "state": "failed", "error": "30003 unreachable"}
    receipt = make_interaction(type="status", channel=sms.channel, content=None, status=status)
    assert receipt_key(receipt) == key
    assert receipt_value(receipt) == "failed: 30003 unreachable"


def test_every_event_of_a_call_has_the_call_key() -> None:
    voice = {"id": "voice", "kind": "voice", "provider": "twilio"}
    events = [
        make_interaction(type="call", channel=voice, external_id=f"CA9:{s}",
                         thread_external_id="CA9", content=None, call={"status": s})
        for s in ("ringing", "completed")
    ]  # fmt: skip
    assert {task_key(e) for e in events} == {"voice:call:CA9"}


def test_a_long_key_is_shortened_stably_to_the_field_length() -> None:
    long = make_interaction(external_id="x" * 500)
    key = task_key(long)
    assert len(key) <= KEY_LENGTH
    assert key == task_key(make_interaction(external_id="x" * 500))
    assert key != task_key(make_interaction(external_id="x" * 499 + "y"))


def test_task_fields_of_a_call_and_of_an_e_mail() -> None:
    _, call, email = customer_interactions()
    fields = task_fields(call, status="Completed", new=True)
    assert fields["TaskSubtype"] == "Call"
    assert (fields["CallType"], fields["CallDurationInSeconds"]) == ("Inbound", 184)
    assert fields["ActivityDate"] == call.occurred_at.date().isoformat()
    assert "TaskSubtype" not in task_fields(call, status="Completed", new=False)
    mail = task_fields(email, status="Completed", new=True)
    assert mail["TaskSubtype"] == "Email"
    assert mail["Subject"].startswith("E-mail: ")
    assert "CallType" not in mail


def test_attachments_are_linked_in_the_description() -> None:
    content = {"text": "see photo", "attachments": [{"url": "https://cdn.example/p.jpg"}]}
    fields = task_fields(make_interaction(content=content), status="Completed", new=True)
    assert fields["TaskSubtype"] == "Task"
    assert fields["Description"].splitlines()[1:] == [
        "see photo",
        "Attachment: https://cdn.example/p.jpg",
    ]


def test_case_origin_follows_the_channel() -> None:
    sms, call, email = customer_interactions()
    assert [case_fields(i)["Origin"] for i in (sms, call, email)] == ["Web", "Phone", "Email"]
    assert case_fields(email)["Subject"] == email.content.subject  # type: ignore[union-attr]


def with_sender(**sender: object) -> list[Interaction]:
    return [make_interaction(sender=sender)]


def test_a_new_contact_always_has_a_last_name() -> None:
    assert contact_changes(with_sender(**PHONE), None) == {
        "LastName": "+15550001111",
        "Phone": "+15550001111",
    }
    assert contact_changes(with_sender(), None) == {"LastName": "Unknown"}
    named = contact_changes(with_sender(display_name="Jane van Doe"), None)
    assert (named["FirstName"], named["LastName"]) == ("Jane van", "Doe")


def test_existing_fields_are_only_filled_never_overwritten() -> None:
    current = {
        "LastName": "Smith",
        "FirstName": "Ann",
        "Email": "ann@example.com",
        "Phone": "+1555",
    }
    identities = [
        {"kind": "email", "value": "jane@example.com"},
        {"kind": "phone", "value": "+15550001111"},
    ]
    sender = {"display_name": "Jane Doe", "identities": identities}
    assert contact_changes(with_sender(**sender), current) == {"MobilePhone": "+15550001111"}
    assert (
        contact_changes(with_sender(**PHONE), {"LastName": "+15550001111", "Phone": "+15550001111"})
        == {}
    )


def test_a_placeholder_last_name_is_replaced_by_a_real_name() -> None:
    current = {"LastName": "+15550001111", "Phone": "+15550001111"}
    changes = contact_changes(with_sender(display_name="Ana Ruiz", **PHONE), current)
    assert changes == {"FirstName": "Ana", "LastName": "Ruiz"}


CLAIMED = {
    "conversation_channels": ["webchat"],
    "conversation_size": 1,
    "repeat_contact": False,
    "identity_claimed": True,
}


def test_only_verified_identities_and_no_claim_fill_a_contact() -> None:
    typed = {"kind": "email", "value": "typed@example.com", "verified": False}
    asserted = with_sender(display_name="Ann Lee", identities=[typed, *PHONE["identities"]])
    assert contact_changes(asserted, None) == {
        "FirstName": "Ann",
        "LastName": "Lee",
        "Phone": "+15550001111",
    }
    claim = make_interaction(context=CLAIMED, sender={"display_name": "Max Stranger", **PHONE})
    assert contact_changes([claim], None) == {"LastName": "Unknown"}
    assert contact_changes([claim], {"LastName": "+15550009999"}) == {}
    assert contact_changes([claim, *with_sender(**PHONE)], None) == {
        "LastName": "+15550001111",
        "Phone": "+15550001111",
    }


def test_a_claimed_interaction_says_so_in_its_description() -> None:
    claim = make_interaction(context=CLAIMED, content={"text": "hello"})
    lines = task_fields(claim, status="Completed", new=True)["Description"].splitlines()
    assert lines[1:] == ["Identity not verified: the sender may not be this customer.", "hello"]
    assert case_fields(claim)["Description"].splitlines()[1] == lines[1]
    plain = make_interaction(content={"text": "hello"})
    assert (
        "Identity not verified"
        not in task_fields(plain, status="Completed", new=True)["Description"]
    )
