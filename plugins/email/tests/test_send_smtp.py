"""The SMTP transport against a real relay on 127.0.0.1 (`fake_smtp`): STARTTLS and implicit
TLS with a throwaway CA, AUTH, the exact message, and what each SMTP failure means."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_smtp import FakeSMTP
from send_cases import ANSWERED, CUSTOMER, INTERACTION_ID, ROOT, deliver, outbound, settings

from gateway.errors import AuthenticationError
from gateway.plugin import Delivered, Rejected, Retry

USER, PASSWORD = "gateway@acme.example", "s3cret-relay-pass"


@pytest.fixture
async def relay(tmp_path: Path) -> AsyncIterator[FakeSMTP]:
    async with FakeSMTP(tmp_path, username=USER, password=PASSWORD) as fake:
        yield fake
        fake.assert_ok()


def smtp(relay: FakeSMTP, **send: object) -> dict[str, object]:
    block = {"transport": "smtp", "host": "127.0.0.1", "port": relay.port, "tls": relay.tls}
    if relay.tls != "none":
        block["ca_file"] = str(relay.ca_file)
    if relay.username is not None:
        block |= {"username": relay.username, "password": relay.password}
    return block | send


async def test_a_reply_goes_over_starttls_with_auth_and_threads(relay: FakeSMTP) -> None:
    [outcome] = await deliver(settings(**smtp(relay)))
    own_id = f"{INTERACTION_ID}@acme.example"
    assert outcome == Delivered(provider_message_id=own_id)
    [received] = relay.received
    assert (received.tls, received.authenticated) == (True, True)
    assert (received.mail_from, received.rcpt_tos) == ("support@acme.example", [CUSTOMER])
    message = received.parsed()
    assert str(message["From"]) == "Acme Support <support@acme.example>"
    assert str(message["To"]) == CUSTOMER
    assert str(message["Subject"]) == "Re: Ticket 1042"
    assert str(message["Message-ID"]) == f"<{own_id}>"
    assert str(message["In-Reply-To"]) == f"<{ANSWERED}>"
    assert str(message["References"]) == f"<{ROOT}> <{ANSWERED}>"
    assert message.get_content().strip() == "It ships today."
    assert b"\r\n" in received.data


async def test_implicit_tls(tmp_path: Path) -> None:
    async with FakeSMTP(tmp_path, tls="implicit", username=USER, password=PASSWORD) as relay:
        [outcome] = await deliver(settings(**smtp(relay)))
        relay.assert_ok()
    assert isinstance(outcome, Delivered)
    assert relay.received[0].tls


async def test_plain_text_to_a_local_relay_without_auth(tmp_path: Path) -> None:
    async with FakeSMTP(tmp_path, tls="none") as relay:
        [outcome] = await deliver(settings(**smtp(relay)))
        relay.assert_ok()
    assert isinstance(outcome, Delivered)
    assert (relay.received[0].tls, relay.received[0].authenticated) == (False, False)


async def test_an_html_alternative_and_linked_attachments(relay: FakeSMTP) -> None:
    content = {
        "text": "Label attached.",
        "subject": "Re: Ticket 1042",
        "html": "<p>Label attached.</p>",
        "attachments": [{"url": "https://files.acme.example/l/42.pdf", "filename": "label.pdf"}],
    }
    [outcome] = await deliver(settings(**smtp(relay)), outbound(content=content))
    assert isinstance(outcome, Delivered)
    message = relay.received[0].parsed()
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert "- label.pdf: https://files.acme.example/l/42.pdf" in plain.get_content()
    assert '<a href="https://files.acme.example/l/42.pdf">label.pdf</a>' in html.get_content()


async def test_a_refused_password_raises_authentication_error(tmp_path: Path) -> None:
    async with FakeSMTP(tmp_path, username=USER, password=PASSWORD) as relay:
        with pytest.raises(AuthenticationError) as raised:
            await deliver(settings(**smtp(relay, password="wrong-password")))
    assert relay.received == []
    assert relay.auth_attempts == 1
    assert "wrong-password" not in str(raised.value)


@pytest.mark.parametrize(
    ("command", "reply", "expected"),
    [
        ("RCPT", "451 4.7.1 Greylisted, try again later", Retry),
        ("RCPT", "550 5.1.1 No such user", Rejected),
        ("DATA", "452 4.3.1 Insufficient system storage", Retry),
        ("DATA", "554 5.7.1 Message rejected as spam", Rejected),
    ],
)
async def test_smtp_answers_are_classified(
    relay: FakeSMTP, command: str, reply: str, expected: type
) -> None:
    relay.answer_next(command, reply)  # type: ignore[arg-type]
    [outcome] = await deliver(settings(**smtp(relay)))
    assert outcome == expected(f"SMTP {reply[:3]}: {reply[4:]}")
    assert relay.received == []


async def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    block = {"transport": "smtp", "host": "127.0.0.1", "port": port, "tls": "none"}
    [outcome] = await deliver(settings(**block))
    assert isinstance(outcome, Retry)
    assert outcome.reason.startswith("cannot reach the SMTP relay 127.0.0.1")


async def test_a_cut_after_data_is_an_unknown_outcome(relay: FakeSMTP) -> None:
    relay.hang_data()
    [outcome] = await deliver(settings(**smtp(relay, timeout="300ms")))
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith("outcome_unknown: SMTP session cut during DATA")
    assert relay.data_commands == 1
    [resend] = await deliver(settings(**smtp(relay, on_unknown_outcome="resend", timeout="1s")))
    assert isinstance(resend, Delivered)
