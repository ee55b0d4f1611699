"""The shared e-mail mapping, through each provider's format: threads, charsets, our own
addresses, auto-replies and bounces."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from email_cases import (
    OURS,
    RECEIVED,
    SETTINGS,
    assemble,
    mailgun_form,
    postmark_body,
    request,
)
from gateway_email import MailgunInboundChannel, PostmarkInboundChannel, SendGridInboundChannel
from gateway_email.mailgun_signature import ReplayCache
from gateway_email.mapping import message_ids

from gateway.errors import SignatureError
from gateway.plugin import WebhookRequest
from gateway.schema import Interaction
from gateway.testing import make_channel


def mime(
    message_id: str,
    subject: str,
    *,
    sender: str = "Ana Ruiz <ana@example.com>",
    references: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"Hello",
    charset: str = "utf-8",
) -> bytes:
    """Return a MIME message with a text part in `charset` and a PDF attachment."""
    lines = {
        "From": sender,
        "To": OURS,
        "Subject": subject,
        "Date": "Sun, 22 Nov 2026 11:00:00 +0100",
        "Message-ID": f"<{message_id}>",
        **({"References": references, "In-Reply-To": references.split()[-1]} if references else {}),
        **(headers or {}),
        "MIME-Version": "1.0",
        "Content-Type": 'multipart/mixed; boundary="b1"',
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in lines.items()).encode()
    return (
        head
        + b"\r\n--b1\r\nContent-Type: text/plain; charset="
        + charset.encode()
        + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body
        + b"\r\n--b1\r\nContent-Type: application/pdf\r\n"
        + b'Content-Disposition: attachment; filename="a.pdf"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
    )


def sendgrid_raw(message: bytes) -> WebhookRequest:
    section = b'Content-Disposition: form-data; name="email"\r\n\r\n' + message
    to = b'Content-Disposition: form-data; name="to"\r\n\r\n' + OURS.encode()
    return request("sendgrid_raw.multipart", assemble([to, section], "xYzZY"))


_tokens = iter(f"{n:050d}" for n in range(10_000))


def mailgun(message: bytes) -> WebhookRequest:
    return request("x.form", mailgun_form({"body-mime": message}, token=next(_tokens)))


Build = Callable[..., WebhookRequest]


def via_sendgrid(message_id: str, subject: str, **options: Any) -> WebhookRequest:
    return sendgrid_raw(mime(message_id, subject, **options))


def via_mailgun(message_id: str, subject: str, **options: Any) -> WebhookRequest:
    return mailgun(mime(message_id, subject, **options))


def via_postmark(message_id: str, subject: str, **options: Any) -> WebhookRequest:
    sender = options.pop("sender", "ana@example.com")
    return request("x.json", postmark_body(message_id, subject, sender=sender, **options))


PROVIDERS: dict[str, tuple[type[Any], Build]] = {
    "sendgrid": (SendGridInboundChannel, via_sendgrid),
    "mailgun": (MailgunInboundChannel, via_mailgun),
    "postmark": (PostmarkInboundChannel, via_postmark),
}


def parse(provider: str, req: WebhookRequest, **settings: Any) -> Interaction:
    channel_type, _ = PROVIDERS[provider]
    channel = make_channel(channel_type, {**SETTINGS[provider], **settings}, clock=lambda: RECEIVED)
    channel.verify(req)
    [interaction] = channel.parse(req)
    return interaction


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_third_reply_with_a_new_subject_keeps_the_first_message_as_thread(provider: str) -> None:
    build = PROVIDERS[provider][1]
    messages = [
        build("root@mail.example.com", "Order 1042"),
        build("two@mail.example.com", "Re: Order 1042", references="<root@mail.example.com>"),
        build(
            "three@mail.example.com",
            "Invoice is wrong too",
            references="<root@mail.example.com> <two@mail.example.com>",
        ),
    ]
    parsed = [parse(provider, req) for req in messages]
    assert [i.external_id for i in parsed] == [
        "root@mail.example.com",
        "two@mail.example.com",
        "three@mail.example.com",
    ]
    assert [i.thread_external_id for i in parsed] == ["root@mail.example.com"] * 3


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Le reçu est cassé: ¿qué pasa?"),
        ("windows-1252", "“Quoted” — 50 €"),
        ("iso-2022-jp", "注文が届きません"),
        ("koi8-r", "Заказ не пришёл"),
    ],
)
@pytest.mark.parametrize("provider", ["sendgrid", "mailgun"])
def test_a_message_in_another_charset_with_an_attachment_is_decoded(
    provider: str, charset: str, text: str
) -> None:
    req = PROVIDERS[provider][1]("c@example.com", "x", body=text.encode(charset), charset=charset)
    interaction = parse(provider, req)
    assert interaction.content is not None
    assert interaction.content.text == text
    [attachment] = interaction.content.attachments
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "a.pdf",
        "application/pdf",
        9,
    )


def test_sendgrid_parsed_fields_are_decoded_with_their_charsets() -> None:
    """The `charsets` field names each field's charset (the fixture's text is ISO-8859-1)."""
    interaction = parse("sendgrid", request("sendgrid_parsed.multipart"))
    assert interaction.content is not None
    assert interaction.content.text == "La factura nº 1042 está mal: ¿podrían revisarla?"
    assert interaction.content.subject == "Factura nº 1042"
    assert interaction.sender.display_name == "José Muñoz"
    assert [(a.filename, a.content_type) for a in interaction.content.attachments] == [
        ("factura-1042.pdf", "application/pdf")
    ]


def test_an_unknown_charset_is_read_as_utf8_rather_than_refused() -> None:
    req = via_sendgrid("u@example.com", "x", body="naïve".encode(), charset="x-unknown-42")
    interaction = parse("sendgrid", req)
    assert interaction.content is not None
    assert interaction.content.text == "naïve"


@pytest.mark.parametrize(
    ("headers", "sender", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, None, "auto-submitted: auto-replied"),
        ({"Auto-Submitted": "auto-generated"}, None, "auto-submitted: auto-generated"),
        ({"Precedence": "bulk"}, None, "precedence: bulk"),
        ({"Precedence": "junk"}, None, "precedence: junk"),
        ({"Precedence": "list"}, None, "precedence: list"),
        ({"X-Autoreply": "yes"}, None, "x-autoreply"),
        ({"X-Autorespond": "yes"}, None, "x-autorespond"),
        ({}, "MAILER-DAEMON@mx.example.net", "bounce: mailer-daemon"),
        ({}, "postmaster@example.net", "bounce: postmaster"),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_auto_replies_and_bounces_are_flagged(
    provider: str, headers: dict[str, str], sender: str | None, reason: str
) -> None:
    options: dict[str, Any] = {"headers": headers}
    if sender:
        options["sender"] = sender
    interaction = parse(provider, PROVIDERS[provider][1]("a@example.com", "x", **options))
    assert interaction.metadata["automated"] == reason


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_person_writing_is_not_flagged(provider: str) -> None:
    req = PROVIDERS[provider][1]("p@example.com", "x", headers={"Auto-Submitted": "no"})
    assert "automated" not in parse(provider, req).metadata


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("sender", [OURS, "Help <Help@Example.org>"])
def test_our_own_addresses_never_become_a_customer_identity(provider: str, sender: str) -> None:
    """A configured inbound address, or the address the message was sent to, as sender."""
    req = PROVIDERS[provider][1]("o@example.com", "x", sender=sender)
    interaction = parse(provider, req, inbound_addresses=[OURS, "help@example.org"])
    assert interaction.sender.identities == []
    assert interaction.metadata["sender_is_ours"] in (OURS, "help@example.org")


@pytest.mark.parametrize("provider", ["sendgrid", "mailgun"])
def test_a_sender_without_a_usable_address_is_kept_in_metadata(provider: str) -> None:
    interaction = parse(
        provider, PROVIDERS[provider][1]("s@example.com", "x", sender="undisclosed")
    )
    assert interaction.sender.identities == []
    assert interaction.metadata["sender_unusable"] == "undisclosed"


@pytest.mark.parametrize(
    ("value", "ids"),
    [
        ("<a@b> <c@d>", ["a@b", "c@d"]),
        ("<a@b>\r\n <c@d>", ["a@b", "c@d"]),
        ("a@b c@d", ["a@b", "c@d"]),
        ("", []),
        (None, []),
        ("<" + "x" * 600 + ">", ["sha256:" + "0" * 64]),
    ],
)
def test_message_ids_are_read_from_their_headers(value: str | None, ids: list[str]) -> None:
    found = message_ids(value)
    if ids and ids[0].startswith("sha256:"):
        assert len(found) == 1
        assert found[0].startswith("sha256:")
        assert len(found[0]) == len(ids[0])
    else:
        assert found == ids


def test_the_replay_cache_is_bounded_and_forgets_old_tokens() -> None:
    cache = ReplayCache(size=2, ttl=timedelta(hours=1))
    for token in ("a", "b", "c"):
        cache.check(token, b"1", RECEIVED, RECEIVED)
    cache.check("a", b"2", RECEIVED, RECEIVED)  # evicted: the cache holds the last two only
    with pytest.raises(SignatureError):
        cache.check("c", b"2", RECEIVED, RECEIVED)
    later = RECEIVED + timedelta(hours=2)
    cache.check("c", b"3", later, later)  # expired


def test_basic_auth_is_compared_in_constant_time(
    compare_digest_calls: list[tuple[bytes, bytes]],
) -> None:
    channel = make_channel(PostmarkInboundChannel, SETTINGS["postmark"])
    channel.verify(request("postmark_reply.json"))
    assert compare_digest_calls
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in compare_digest_calls)
