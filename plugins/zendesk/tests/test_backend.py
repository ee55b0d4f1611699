"""The `zendesk` backend against the fake Zendesk: users, tickets, comments, merges, erasure."""

from __future__ import annotations

import logging

import pytest
from conftest import TOKEN, BackendMaker
from fake_zendesk import FakeZendesk

from gateway.errors import AuthenticationError
from gateway.plugin import CustomerErasure, CustomerMerge, Delivered, Delivery, Rejected, Retry
from gateway.schema import Interaction
from gateway.testing import claimed_chat, customer_interactions, make_interaction

CUSTOMER = "cus_01KAXZ0000000000000000CVST"
CONVERSATION = "conv_01KAXZ0000000000000000C0NV"
OTHER_CONVERSATION = "conv_01KAXZ0000000000000000C1NV"


def deliveries(interactions: list[Interaction], refs: tuple[str, ...] = ()) -> list[Delivery]:
    return [Delivery(n, i, 1, refs) for n, i in enumerate(interactions, start=1)]


def refs_of(outcomes: object) -> tuple[str, ...]:
    assert isinstance(outcomes, list)
    return tuple(
        dict.fromkeys(r for o in outcomes if isinstance(o, Delivered) for r in o.record_refs)
    )


def receipt(
    state: str, error: str | None = None, conversation: str | None = CONVERSATION
) -> Interaction:
    return make_interaction(
        type="status",
        direction="outbound",
        channel={"id": "support-sms", "kind": "sms", "provider": "twilio"},
        content=None,
        status={"of_external_id": "SM-out-1", "state": state, "error": error},
        customer_id=CUSTOMER,
        conversation_id=conversation,
    )


async def test_one_customer_is_one_user_and_one_ticket_with_a_comment_each(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    interactions = customer_interactions()
    outcomes = await backend.deliver(deliveries(interactions))
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    [user] = zendesk.end_users()
    assert (user.external_id, user.name) == (CUSTOMER, "Jane")
    assert sorted(user.identities) == [
        ("email", "jane.doe@example.com"),
        ("phone_number", "+15551230001"),
    ]
    [ticket] = zendesk.tickets.values()
    assert (ticket.external_id, ticket.requester_id) == (CONVERSATION, user.id)
    assert ticket.tags == ["channel_gateway", "gateway_sms", "gateway_voice", "gateway_email"]
    assert [c.author_id for c in ticket.comments] == [user.id] * 3
    assert not any(c.public for c in ticket.comments), "internal notes by default"
    for comment, interaction in zip(ticket.comments, interactions, strict=True):
        assert comment.body.endswith(f"[gateway ref {interaction.id}]")
    assert "via support-voice" in ticket.comments[1].body
    assert "duration 3 min 4 s (184 s)" in ticket.comments[1].body
    assert refs_of(outcomes) == (f"user {user.id}", f"ticket {ticket.id}")
    [create] = zendesk.requests_to("POST", "^/api/v2/tickets$")
    assert create.headers["Idempotency-Key"] == f"{CONVERSATION}/{interactions[0].id}"


async def test_public_comments_are_public(zendesk: FakeZendesk, make_backend: BackendMaker) -> None:
    backend = await make_backend(
        public_comments=True, tags=["vip"], group_id=360001, brand_id=360002
    )
    await backend.deliver(deliveries(customer_interactions()[:2]))
    [ticket] = zendesk.tickets.values()
    assert [c.public for c in ticket.comments] == [True, True]
    assert (ticket.tags, ticket.group_id, ticket.brand_id) == (
        ["vip", "gateway_sms", "gateway_voice"],
        360001,
        360002,
    )


async def test_a_retry_without_refs_finds_the_user_the_ticket_and_the_comment(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    """A crash after every write but before the outcome was stored: nothing is written twice."""
    backend = await make_backend()
    interactions = customer_interactions()
    await backend.deliver(deliveries(interactions))
    again = await backend.deliver(deliveries(interactions))
    assert all(isinstance(o, Delivered) for o in again), again
    assert len(zendesk.end_users()) == 1
    assert len(zendesk.tickets) == 1
    assert len(zendesk.all_comments()) == 3
    assert len(zendesk.requests_to("POST", "^/api/v2/tickets$")) == 1
    assert len(zendesk.requests_to("PUT", r"^/api/v2/tickets/\d+$")) == 2


async def test_a_lost_answer_to_the_ticket_create_opens_no_second_ticket(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    """The create landed but its answer was lost: the retry finds the ticket by external id."""
    backend = await make_backend()
    first = customer_interactions()[0]
    zendesk.lose_answers = 1
    [outcome] = await backend.deliver(deliveries([first]))
    assert isinstance(outcome, Retry), outcome
    [outcome] = await backend.deliver(deliveries([first]))
    assert isinstance(outcome, Delivered), outcome
    assert len(zendesk.tickets) == 1
    assert len(zendesk.all_comments()) == 1
    assert len(zendesk.requests_to("POST", "^/api/v2/tickets$")) == 1


async def test_a_lost_answer_to_a_comment_adds_no_second_comment(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms, call, _ = customer_interactions()
    await backend.deliver(deliveries([sms]))
    zendesk.lose_answers = 1
    [lost] = await backend.deliver(deliveries([call]))
    assert isinstance(lost, Retry), lost
    [outcome] = await backend.deliver(deliveries([call]))
    assert isinstance(outcome, Delivered), outcome
    assert len(zendesk.all_comments()) == 2
    # aiohttp re-sent the PUT whose connection dropped; the safe update refused the second send.
    assert len(zendesk.requests_to("PUT", r"^/api/v2/tickets/\d+$")) == 2


async def test_the_idempotency_key_saves_a_create_the_lookup_missed(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    """With the ticket list behind, the second create replays the first: same ticket."""
    backend = await make_backend()
    first = customer_interactions()[0]
    zendesk.lose_answers, zendesk.unlisted = 1, True
    [lost] = await backend.deliver(deliveries([first]))
    [outcome] = await backend.deliver(deliveries([first]))
    assert isinstance(lost, Retry), lost
    [ticket] = zendesk.tickets.values()
    assert outcome == Delivered(record_refs=(f"user {ticket.requester_id}", f"ticket {ticket.id}"))
    creates = zendesk.requests_to("POST", "^/api/v2/tickets$")
    assert [c.body for c in creates] == [creates[0].body] * 2


async def test_a_new_conversation_is_a_new_ticket(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    first, second = (
        customer_interactions()[0],
        customer_interactions(conversation_id=OTHER_CONVERSATION)[2],
    )
    outcomes = await backend.deliver(deliveries([first]))
    await backend.deliver(deliveries([second], refs_of(list(outcomes))))
    assert sorted(t.external_id or "" for t in zendesk.tickets.values()) == [
        CONVERSATION,
        OTHER_CONVERSATION,
    ]
    assert len(zendesk.end_users()) == 1
    assert [t.subject for t in zendesk.tickets.values()] == [
        "SMS conversation with Jane, +15551230001",
        "Order 1042",
    ]


async def test_a_closed_ticket_gets_a_follow_up(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms, call, mail = customer_interactions()
    await backend.deliver(deliveries([sms]))
    [closed] = zendesk.tickets.values()
    closed.status = "closed"
    await backend.deliver(deliveries([call, mail]))
    follow_up = max(zendesk.tickets.values(), key=lambda t: t.id)
    assert (follow_up.followup_of, follow_up.external_id) == (closed.id, CONVERSATION)
    assert len(zendesk.tickets) == 2
    assert [len(closed.comments), len(follow_up.comments)] == [1, 2]


async def test_a_call_is_one_comment_once_it_has_ended(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    _, call, _ = customer_interactions()
    assert call.call is not None
    ringing = call.model_copy(update={"call": call.call.model_copy(update={"status": "ringing"})})
    before = len(zendesk.requests)
    outcomes = await backend.deliver(deliveries([ringing]))
    assert outcomes == [Delivered()]
    assert len(zendesk.requests) == before, "a call that has not ended writes nothing"
    await backend.deliver(deliveries([call]))
    [comment] = zendesk.all_comments()
    assert (
        "Recording: https://api.twilio.com/2010-04-01/Accounts/AC0/Recordings/RE0" in comment.body
    )


async def test_a_failed_receipt_is_an_internal_note_and_others_write_nothing(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend(public_comments=True)
    await backend.deliver(deliveries(customer_interactions()[:1]))
    assert await backend.deliver(deliveries([receipt("delivered")])) == [Delivered()]
    failed = receipt("failed", "30006 landline or unreachable carrier")
    for _ in range(2):
        [outcome] = await backend.deliver(deliveries([failed]))
        assert isinstance(outcome, Delivered), outcome
    [ticket] = zendesk.tickets.values()
    assert len(ticket.comments) == 2
    note = ticket.comments[1]
    assert (note.public, note.author_id) == (False, zendesk.agent.id)
    assert "could not be delivered: 30006 landline or unreachable carrier" in note.body
    assert await backend.deliver(
        deliveries([receipt("failed", conversation=OTHER_CONVERSATION)])
    ) == [Delivered()]


async def test_an_address_another_user_holds_stays_theirs(
    zendesk: FakeZendesk, make_backend: BackendMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    other = zendesk.seed_user("Jane at work", ("email", "jane.doe@example.com"))
    backend = await make_backend()
    outcomes = await backend.deliver(deliveries(customer_interactions()))
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    ours = next(u for u in zendesk.end_users() if u.external_id == CUSTOMER)
    assert ours.identities == [("phone_number", "+15551230001")]
    assert other.identities == [("email", "jane.doe@example.com")]
    assert "already being used by another user" in caplog.text


async def test_a_user_deleted_in_zendesk_is_created_again(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms, call, _ = customer_interactions()
    outcomes = await backend.deliver(deliveries([sms]))
    [user] = zendesk.end_users()
    del zendesk.users[user.id]
    zendesk.tickets.clear()
    [outcome] = await backend.deliver(deliveries([call], refs_of(list(outcomes))))
    assert isinstance(outcome, Delivered), outcome
    [again] = zendesk.end_users()
    assert again.id != user.id
    assert f"user {again.id}" in outcome.record_refs


async def test_validation_errors_are_rejected_with_zendesk_details(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend(group_id=999)
    [outcome] = await backend.deliver(deliveries(customer_interactions()[:1]))
    assert isinstance(outcome, Rejected), outcome
    assert (
        "Zendesk 422 RecordInvalid: Record validation errors (group: group_id: 999 does not exist)"
        in outcome.reason
    )


async def test_a_rate_limit_is_retried_when_zendesk_says(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    zendesk.rate_limit(1, retry_after=42)
    [outcome] = await backend.deliver(deliveries(customer_interactions()[:1]))
    assert isinstance(outcome, Retry), outcome
    assert outcome.after_s == 42


async def test_interactions_without_a_customer_are_rejected(make_backend: BackendMaker) -> None:
    backend = await make_backend()
    [outcome] = await backend.deliver(deliveries([make_interaction()]))
    assert isinstance(outcome, Rejected)
    assert "has no customer or conversation" in outcome.reason


async def test_the_marker_is_found_past_the_first_page_of_comments(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    sms, call, _ = customer_interactions()
    await backend.deliver(deliveries([sms, call]))
    [ticket] = zendesk.tickets.values()
    filler = [
        make_interaction(customer_id=CUSTOMER, conversation_id=CONVERSATION) for _ in range(120)
    ]
    for interaction in filler:
        await backend.deliver(deliveries([interaction]))
    await backend.deliver(deliveries([call]))
    assert len(ticket.comments) == 122
    assert any(r.query.get("page") == "2" for r in zendesk.requests_to("GET", "/comments$"))


# ---- health


async def test_health_check_proves_the_token(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    await backend.health_check()
    zendesk.anonymous = True
    with pytest.raises(AuthenticationError, match="anonymous user"):
        await backend.health_check()
    zendesk.anonymous = False
    zendesk.agent.role = "end-user"
    with pytest.raises(AuthenticationError, match="must belong to an agent or admin"):
        await backend.health_check()


async def test_a_wrong_token_is_refused_without_showing_it(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    wrong = "wrong-token-000000000000000000000000000000"
    with pytest.raises(AuthenticationError) as caught:
        await make_backend(api_token=wrong)
    assert "Zendesk 401 Couldn't authenticate you" in str(caught.value)
    assert wrong not in str(caught.value)
    assert zendesk.problems == [
        "GET /api/v2/users/me: no valid Basic {email}/token:{api_token} credentials"
    ]
    zendesk.problems.clear()
    assert TOKEN not in repr(zendesk.requests[0].headers.get("Authorization", ""))


# ---- merges and erasure


def merge_of(survivor_refs: tuple[str, ...], merged_refs: tuple[str, ...]) -> CustomerMerge:
    return CustomerMerge(7, "merge", CUSTOMER, "cus_01KAXZ0000000000000000MRGD", "shared phone",
                         survivor_refs, merged_refs)  # fmt: skip


async def test_a_merge_merges_the_users_once(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    survivor = zendesk.seed_user("Jane", ("phone_number", "+15551230001"), external_id=CUSTOMER)
    merged = zendesk.seed_user(
        "J. Doe", ("email", "jane.doe@example.com"), external_id="cus_01KAXZ0000000000000000MRGD"
    )
    merge = merge_of((f"user {survivor.id}",), (f"user {merged.id}",))
    for _ in range(2):
        assert await backend.merge_customers(merge) == Delivered(
            record_refs=(f"user {survivor.id}",)
        )
    assert [u.id for u in zendesk.end_users()] == [survivor.id]
    assert sorted(survivor.identities) == [
        ("email", "jane.doe@example.com"),
        ("phone_number", "+15551230001"),
    ]
    [request, _] = zendesk.requests_to("PUT", "/merge$")
    assert request.path == f"/api/v2/users/{merged.id}/merge"
    assert request.json() == {"user": {"id": survivor.id}}


async def test_a_merge_without_a_survivor_user_adopts_the_merged_one(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    merged = zendesk.seed_user("J. Doe", external_id="cus_01KAXZ0000000000000000MRGD")
    outcome = await backend.merge_customers(merge_of((), (f"user {merged.id}",)))
    assert outcome == Delivered(record_refs=(f"user {merged.id}",))
    assert merged.external_id == CUSTOMER


async def test_an_unmerge_is_refused_with_what_to_do(make_backend: BackendMaker) -> None:
    backend = await make_backend()
    outcome = await backend.unmerge_customers(merge_of(("user 1",), ("user 2",)))
    assert isinstance(outcome, Rejected)
    assert "Zendesk cannot unmerge users" in outcome.reason


async def test_erasure_deletes_the_user_permanently_and_is_idempotent(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    outcomes = await backend.deliver(deliveries(customer_interactions()[:1]))
    [user] = zendesk.end_users()
    lost = zendesk.seed_user("Jane (from a crash)", external_id=CUSTOMER)
    erasure = CustomerErasure(3, CUSTOMER, refs_of(list(outcomes)))
    for _ in range(2):
        assert await backend.erase_customer(erasure) == Delivered()
    assert zendesk.end_users() == []
    assert zendesk.purged == [user.id, lost.id]
    assert zendesk.deleted_users == {}


async def test_a_user_named_after_a_number_gets_the_customers_name_once_known(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    backend = await make_backend()
    same = {"customer_id": CUSTOMER, "conversation_id": CONVERSATION}
    phone = {"identities": [{"kind": "phone", "value": "+15551230001"}]}
    unnamed = make_interaction(sender=phone, **same)
    named = make_interaction(sender={**phone, "display_name": "Jane Doe"}, **same)
    renamed = make_interaction(sender={**phone, "display_name": "J. D."}, **same)
    outcomes = await backend.deliver(deliveries([unnamed]))
    [user] = zendesk.end_users()
    assert user.name == "+15551230001"
    for interaction in (named, renamed):
        await backend.deliver(deliveries([interaction], refs_of(list(outcomes))))
    assert user.name == "Jane Doe", "a real name, once given, stays"


JANE = (("email", "jane.doe@example.com"), ("phone_number", "+15551230001"))


@pytest.mark.parametrize("with_ref", [True, False], ids=["crosswalk-ref", "no-ref"])
async def test_a_claimed_chat_is_a_marked_comment_and_leaves_the_user_alone(
    zendesk: FakeZendesk, make_backend: BackendMaker, with_ref: bool
) -> None:
    jane = zendesk.seed_user("Jane Doe", *JANE, external_id=CUSTOMER)
    backend = await make_backend()
    refs = (f"user {jane.id}",) if with_ref else ()
    [outcome] = await backend.deliver(deliveries([claimed_chat()], refs))

    assert isinstance(outcome, Delivered), outcome
    assert f"user {jane.id}" in outcome.record_refs
    assert zendesk.end_users() == [jane]
    assert (jane.name, jane.identities) == ("Jane Doe", list(JANE))
    for method, path in (
        ("POST", "/identities$"),
        ("PUT", r"^/api/v2/users/\d+$"),
        ("POST", "/create_or_update$"),
    ):
        assert zendesk.requests_to(method, path) == [], (method, path)
    [comment] = zendesk.all_comments()
    assert comment.author_id == jane.id
    heading, marked, *_ = comment.body.splitlines()
    assert heading.startswith("Web chat inbound via web-form from Max Stranger")
    assert marked == "Identity not verified: the sender may not be this customer."


async def test_a_claimed_chat_of_a_customer_without_a_user_creates_a_bare_one(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    """Nothing of the claim names the new user; its first verified interaction does."""
    backend = await make_backend()
    [outcome] = await backend.deliver(deliveries([claimed_chat()]))
    assert isinstance(outcome, Delivered), outcome
    [user] = zendesk.end_users()
    assert (user.external_id, user.name, user.identities) == (
        CUSTOMER,
        f"Customer {CUSTOMER}",
        [],
    )
    sms = customer_interactions()[0]
    await backend.deliver(deliveries([sms], refs_of([outcome])))
    assert (user.name, sorted(user.identities)) == ("Jane", [("phone_number", "+15551230001")])


async def test_an_asserted_identity_never_becomes_a_user_identity(
    zendesk: FakeZendesk, make_backend: BackendMaker
) -> None:
    """Her verified phone brought the e-mail, which nobody checked: only the phone is added."""
    backend = await make_backend()
    identities = [
        {"kind": "email", "value": "typed@example.com", "verified": False},
        {"kind": "phone", "value": "+15551230001"},
    ]
    chat = make_interaction(
        customer_id=CUSTOMER, conversation_id=CONVERSATION, sender={"identities": identities}
    )
    [outcome] = await backend.deliver(deliveries([chat]))
    assert isinstance(outcome, Delivered), outcome
    [user] = zendesk.end_users()
    assert (user.name, user.identities) == ("+15551230001", [("phone_number", "+15551230001")])
    [comment] = zendesk.all_comments()
    assert "Identity not verified" not in comment.body
