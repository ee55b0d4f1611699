"""The Postmark, SendGrid and Mailgun transports against strict fakes: the request each API
documents, the provider message id, and every documented refusal classified."""

from __future__ import annotations

from typing import Any

import pytest
from fake_mail_apis import (
    MAILGUN_DOMAIN,
    MAILGUN_KEY,
    POSTMARK_TOKEN,
    SENDGRID_KEY,
    FakeMailgun,
    FakePostmark,
    FakeSendGrid,
)
from send_cases import ANSWERED, CUSTOMER, INTERACTION_ID, ROOT, deliver, outbound, settings

from gateway.errors import AuthenticationError
from gateway.plugin import Delivered, Rejected, Retry

OWN_ID = f"{INTERACTION_ID}@acme.example"
THREADING = {"In-Reply-To": f"<{ANSWERED}>", "References": f"<{ROOT}> <{ANSWERED}>"}


def via_postmark(fake: FakePostmark, **send: Any) -> dict[str, Any]:
    return {"transport": "postmark", "server_token": POSTMARK_TOKEN, "base_url": fake.url} | send


async def test_postmark_gets_the_reply_and_answers_its_message_id(
    postmark: FakePostmark,
) -> None:
    html = {"text": "Ships today.", "subject": "Re: Re: Ticket 1042", "html": "<p>Ships</p>"}
    [outcome] = await deliver(settings(**via_postmark(postmark)), outbound(content=html))
    assert outcome == Delivered(provider_message_id="00000000-0000-0000-0000-000000000001")
    assert postmark.sent == [
        {
            "From": "Acme Support <support@acme.example>",
            "To": CUSTOMER,
            "Subject": "Re: Ticket 1042",
            "TextBody": "Ships today.",
            "HtmlBody": "<p>Ships</p>",
            "Headers": [
                {"Name": "Message-ID", "Value": f"<{OWN_ID}>"},
                {"Name": "In-Reply-To", "Value": f"<{ANSWERED}>"},
                {"Name": "References", "Value": f"<{ROOT}> <{ANSWERED}>"},
            ],
            "MessageStream": "outbound",
        }
    ]


INVALID = "invalid e-mail request (a bad address, no body, too many recipients)"
INACTIVE = (
    "inactive recipient: Postmark suppresses this address (a hard bounce, a spam complaint or an"
    " unsubscribe); reactivate it in Postmark to send again"
)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            422,
            {"ErrorCode": 300, "Message": "Invalid 'To' address"},
            Rejected(f"{INVALID} (Postmark ErrorCode 300: Invalid 'To' address)"),
        ),
        (
            422,
            {"ErrorCode": 406, "Message": "Inactive recipient"},
            Rejected(f"{INACTIVE} (Postmark ErrorCode 406: Inactive recipient)"),
        ),
        (
            429,
            {"ErrorCode": 429, "Message": "Rate limit exceeded"},
            Retry("Postmark rate limit (ErrorCode 429: Rate limit exceeded)", after_s=7.0),
        ),
        (503, None, Retry("Postmark 503: injected 503", after_s=7.0)),
        (413, {"Message": "Request too large"}, Rejected("Postmark 413: Request too large")),
    ],
)
async def test_postmark_refusals_are_classified(
    postmark: FakePostmark, status: int, body: Any, expected: Any
) -> None:
    postmark.fail_next(status=status, body=body, headers={"Retry-After": "7"})
    [outcome] = await deliver(settings(**via_postmark(postmark)))
    assert outcome == expected
    assert postmark.sent == []


async def test_a_wrong_postmark_token_raises_authentication_error() -> None:
    async with FakePostmark() as fake:
        with pytest.raises(AuthenticationError, match="server token") as raised:
            await deliver(settings(**via_postmark(fake, server_token="another-token")))
    assert "another-token" not in str(raised.value)
    assert fake.sent == []


async def test_a_postmark_send_cut_off_is_an_unknown_outcome(postmark: FakePostmark) -> None:
    postmark.hang()
    [outcome] = await deliver(settings(**via_postmark(postmark, timeout="200ms")))
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("outcome_unknown")
    assert POSTMARK_TOKEN not in outcome.reason


def via_sendgrid(fake: FakeSendGrid, **send: Any) -> dict[str, Any]:
    return {"transport": "sendgrid", "api_key": SENDGRID_KEY, "base_url": fake.url} | send


async def test_sendgrid_gets_the_reply_with_its_threading_headers(
    sendgrid: FakeSendGrid,
) -> None:
    [outcome] = await deliver(settings(**via_sendgrid(sendgrid)))
    assert outcome == Delivered(provider_message_id=OWN_ID)
    assert sendgrid.sent == [
        {
            "personalizations": [
                {"to": [{"email": CUSTOMER}], "custom_args": {"gateway_message_id": OWN_ID}}
            ],
            "from": {"email": "support@acme.example", "name": "Acme Support"},
            "subject": "Re: Ticket 1042",
            "content": [{"type": "text/plain", "value": "It ships today."}],
            "headers": {"Message-ID": f"<{OWN_ID}>", **THREADING},
        }
    ]
    [request] = sendgrid.requests
    assert request.headers["Authorization"] == f"Bearer {SENDGRID_KEY}"


async def test_sendgrid_refusals_are_classified(sendgrid: FakeSendGrid) -> None:
    sendgrid.rate_limit(retry_after=12)
    invalid = {"errors": [{"message": "Does not contain a valid address.", "field": "to"}]}
    sendgrid.fail_next(status=400, body=invalid)
    first, second = await deliver(settings(**via_sendgrid(sendgrid)), outbound(), outbound())
    assert first == Retry("SendGrid 429: injected 429", after_s=12.0)
    assert second == Rejected("SendGrid 400: Does not contain a valid address. (to)")
    sendgrid.fail_next(status=401, body={"errors": [{"message": "bad key", "field": None}]})
    with pytest.raises(AuthenticationError, match="SendGrid refused the credentials"):
        await deliver(settings(**via_sendgrid(sendgrid)))
    assert sendgrid.sent == []


def via_mailgun(fake: FakeMailgun, **send: Any) -> dict[str, Any]:
    block = {"transport": "mailgun", "api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN}
    return block | {"base_url": fake.url} | send


async def test_mailgun_gets_the_reply_as_form_fields(mailgun: FakeMailgun) -> None:
    [outcome] = await deliver(settings(**via_mailgun(mailgun)))
    assert outcome == Delivered(provider_message_id=f"20261122100500.1@{MAILGUN_DOMAIN}")
    assert mailgun.sent == [
        {
            "from": "Acme Support <support@acme.example>",
            "to": CUSTOMER,
            "subject": "Re: Ticket 1042",
            "text": "It ships today.",
            "h:Message-Id": f"<{OWN_ID}>",
            "h:In-Reply-To": f"<{ANSWERED}>",
            "h:References": f"<{ROOT}> <{ANSWERED}>",
        }
    ]


async def test_mailgun_refusals_are_classified(mailgun: FakeMailgun) -> None:
    mailgun.fail_next(status=400, body={"message": "to parameter is not a valid address"})
    mailgun.fail_next(status=500, body={"message": "internal"})
    first, second = await deliver(settings(**via_mailgun(mailgun)), outbound(), outbound())
    assert first == Rejected("Mailgun 400: to parameter is not a valid address")
    assert second == Retry("Mailgun 500: internal")
    mailgun.fail_next(status=403, body={"message": "Forbidden"})
    with pytest.raises(AuthenticationError) as raised:
        await deliver(settings(**via_mailgun(mailgun)))
    assert MAILGUN_KEY not in str(raised.value)
