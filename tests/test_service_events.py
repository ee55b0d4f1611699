"""The wait rule (DESIGN §13), on its own: what each contact does to a conversation's wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from gateway.service_events import Chase, Contact, FirstResponse, Waiting, advance

NINE = datetime(2026, 11, 22, 9, tzinfo=UTC)


def contact(
    minutes: int,
    kind: str = "email",
    direction: Literal["inbound", "outbound"] = "inbound",
    *,
    automated: bool = False,
) -> Contact:
    return Contact(direction, kind, NINE + timedelta(minutes=minutes), automated)


def test_an_inbound_contact_opens_a_wait_and_an_outbound_one_answers_it() -> None:
    waiting, event = advance(None, contact(0))
    assert (waiting, event) == (Waiting(NINE, "email", "email"), None)
    assert advance(waiting, contact(90, "sms", "outbound")) == (
        None,
        FirstResponse("email", 5400.0, NINE + timedelta(minutes=90)),
    )


def test_another_channel_before_the_answer_is_a_chase_from_the_latest_one() -> None:
    waiting, _ = advance(None, contact(0, "email"))
    waiting, event = advance(waiting, contact(10, "email"))
    assert event is None
    waiting, event = advance(waiting, contact(20, "voice"))
    assert event == Chase("email", "voice", NINE + timedelta(minutes=20))
    waiting, event = advance(waiting, contact(30, "sms"))
    assert event == Chase("voice", "sms", NINE + timedelta(minutes=30))
    assert waiting == Waiting(NINE, "email", "sms")


def test_automated_contacts_change_nothing() -> None:
    assert advance(None, contact(0, automated=True)) == (None, None)
    waiting = Waiting(NINE, "email", "email")
    assert advance(waiting, contact(5, "sms", "outbound", automated=True)) == (waiting, None)
    assert advance(waiting, contact(5, "voice", automated=True)) == (waiting, None)


def test_an_outbound_contact_with_nobody_waiting_is_no_response() -> None:
    assert advance(None, contact(0, direction="outbound")) == (None, None)


def test_a_late_arrival_moves_the_start_of_the_wait_and_no_answer_is_negative() -> None:
    waiting, _ = advance(None, contact(60, "sms"))
    waiting, _ = advance(waiting, contact(0, "email"))  # occurred earlier, threaded later
    assert waiting == Waiting(NINE, "email", "email")
    _, event = advance(Waiting(NINE, "email", "email"), contact(-5, direction="outbound"))
    assert isinstance(event, FirstResponse)
    assert event.seconds == 0
