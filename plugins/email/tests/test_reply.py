"""The reply every transport sends, built from the outbound interaction: subject, threading,
attachments linked (never fetched), and what cannot be sent refused before any request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gateway_email.reply import Reply, build_reply, reply_subject
from send_cases import outbound, settings

from gateway.plugin import Rejected

NOW = datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
SEND = settings(transport="sendgrid", api_key="SG.key")


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order 1042", "Order 1042"),
        ("Re: Order 1042", "Re: Order 1042"),
        ("Re: Re: Order 1042", "Re: Order 1042"),
        ("RE:AW: Order 1042", "Re: Order 1042"),
        ("  re : Order 1042", "Re: Order 1042"),
    ],
)
def test_a_subject_has_at_most_one_re(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_a_reply_to_nothing_has_no_threading_headers() -> None:
    reply = build_reply(outbound(metadata={}, thread_external_id=None), SEND, NOW)
    assert isinstance(reply, Reply)
    assert reply.threading == {}
    assert reply.message["In-Reply-To"] is None
    assert str(reply.message["Date"]) == "Sun, 22 Nov 2026 10:05:00 +0000"


def test_a_thread_root_that_is_no_message_id_is_left_out_of_references() -> None:
    """An inbound e-mail without a `Message-ID` is known by a digest: not a header value."""
    reply = build_reply(outbound(thread_external_id="sha256:ab12"), SEND, NOW)
    assert isinstance(reply, Reply)
    assert reply.threading["References"] == "<CAF8ZkQ9=3d@mail.gmail.com>"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"content": {"text": "Hi"}}, "an e-mail reply needs a subject"),
        ({"content": {"subject": "Re: x"}}, "an e-mail reply needs content.text"),
        (
            {"recipient": {"identities": [{"kind": "phone", "value": "+34600000000"}]}},
            "the recipient has no e-mail address",
        ),
        (
            {"content": {"text": "x", "subject": "Hi\r\nBcc: someone@example.com"}},
            "the reply cannot be written as an e-mail: Header values may not contain linefeed",
        ),
        (
            {"recipient": {"identities": [{"kind": "email", "value": "josé@example.com"}]}},
            "the reply cannot be written as an e-mail: local-part contains non-ASCII",
        ),
        (
            {"content": {"text": "x", "subject": "y", "attachments": [{"url": "file:///etc"}]}},
            "an attachment needs an http(s) url to link to, not 'file:///etc'",
        ),
    ],
)
def test_what_cannot_be_sent_is_rejected(fields: dict[str, object], reason: str) -> None:
    outcome = build_reply(outbound(**fields), SEND, NOW)
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith(reason)


def test_an_international_domain_is_written_in_idna() -> None:
    to = {"identities": [{"kind": "email", "value": "ana@exämple.com"}]}
    reply = build_reply(outbound(recipient=to), SEND, NOW)
    assert isinstance(reply, Reply)
    assert reply.to == "ana@xn--exmple-cua.com"
    assert b"To: ana@xn--exmple-cua.com\r\n" in reply.data


def test_without_a_subject_of_its_own_a_reply_answers_re_the_customers_subject() -> None:
    answered = {"reply_to": "CAF8ZkQ9=3d@mail.gmail.com", "reply_subject": "RE: Ticket 1042"}
    delivery = outbound(content={"text": "It ships today."}, metadata=answered)
    reply = build_reply(delivery, SEND, NOW)
    assert isinstance(reply, Reply)
    assert reply.subject == "Re: Ticket 1042"
