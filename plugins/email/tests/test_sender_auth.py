"""Identity trust for e-mail: a `From` is verified only when SPF or DKIM passed aligned with it,
as each provider reports it; an unverified one still finds its customer, as a claim."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientResponse
from email_cases import (
    BASIC,
    OURS,
    RECEIVED,
    SIGNING_KEY,
    assemble,
    authorization,
    mailgun_form,
    postmark_body,
)
from gateway_email.message import Headers
from gateway_email.sender_auth import (
    SenderAuth,
    aligned,
    mailgun_auth,
    postmark_auth,
    sendgrid_auth,
)

from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest

ANA = "ana@example.com"


@pytest.mark.parametrize(
    ("checked", "from_domain", "expected"),
    [
        ("example.com", "example.com", True),
        ("mail.example.com", "example.com", True),  # a subdomain signs for its parent
        ("example.com", "eu.example.com", True),
        ("EXAMPLE.com.", "example.com", True),
        ("bücher.example", "xn--bcher-kva.example", True),
        ("a.example.com", "b.example.com", False),  # siblings do not align
        ("example.com", "example.co", False),
        ("badexample.com", "example.com", False),
        ("com", "example.com", False),  # a bare top-level domain aligns with nothing
        ("", "example.com", False),
    ],
)
def test_alignment(checked: str, from_domain: str, *, expected: bool) -> None:
    assert aligned(checked, from_domain) is expected


def test_sendgrid_spf_checks_the_envelope_sender_and_dkim_lists_signatures() -> None:
    assert sendgrid_auth("pass", None, "bounce@mail.example.com").verifies(ANA)
    assert not sendgrid_auth("softfail", None, "ana@example.com").verifies(ANA)
    assert not sendgrid_auth("pass", None, "bounce@attacker.example").verifies(ANA)
    assert not sendgrid_auth("pass", None, None).verifies(ANA)
    two = "{@attacker.example : pass, @example.com : fail}"
    assert sendgrid_auth("none", two, None) == SenderAuth((), ("attacker.example",))
    assert not sendgrid_auth("none", two, None).verifies(ANA)
    assert sendgrid_auth("fail", "{@example.com : pass}", "x@attacker.example").verifies(ANA)


def test_mailgun_dkim_counts_only_when_the_signer_is_known() -> None:
    signed = ["v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=s1; h=From:To; b=abc"]
    assert mailgun_auth("Pass", None, [], "ana@example.com").verifies(ANA)
    assert not mailgun_auth("SoftFail", None, [], "ana@example.com").verifies(ANA)
    assert mailgun_auth(None, "Pass", signed, None).verifies(ANA)
    assert not mailgun_auth(None, "Fail", signed, None).verifies(ANA)
    # Which of two signatures passed is unknown: neither counts.
    other = ["v=1; d=attacker.example; s=s; b=x", *signed]
    assert not mailgun_auth(None, "Pass", other, None).verifies(ANA)
    assert not mailgun_auth(None, "Pass", [], None).verifies(ANA)


def test_postmark_reads_its_own_topmost_headers() -> None:
    spf = (
        "Pass (sender SPF authorized) identity=mailfrom; client-ip=209.85.160.180;"
        " helo=mail.example.com; envelope-from=ana@example.com;"
        " receiver=abc@inbound.postmarkapp.com"
    )
    assert postmark_auth(Headers([("Received-SPF", spf)])).verifies(ANA)
    comment = "pass (example.com: domain of ana@example.com designates 1.2.3.4 as permitted sender)"
    assert postmark_auth(Headers([("Received-SPF", comment)])).verifies(ANA)
    neutral = spf.replace("Pass (sender SPF authorized)", "Neutral")
    assert not postmark_auth(Headers([("Received-SPF", neutral)])).verifies(ANA)
    # A lower Received-SPF, written by an earlier hop or by the sender, is not Postmark's.
    assert not postmark_auth(Headers([("Received-SPF", neutral), ("Received-SPF", spf)])).verifies(
        ANA
    )
    results = (
        "inbound.postmarkapp.com; spf=fail smtp.mailfrom=x@attacker.example;"
        " dkim=pass header.d=example.com header.s=s1"
    )
    assert postmark_auth(Headers([("Authentication-Results", results)])).dkim == ("example.com",)
    by_i = "mx; dkim=pass header.i=@mail.example.com"
    assert postmark_auth(Headers([("Authentication-Results", by_i)])).verifies(ANA)
    failed = "mx; dkim=fail header.d=example.com; spf=pass smtp.mailfrom=ana@example.com"
    assert postmark_auth(Headers([("Authentication-Results", failed)])).dkim == ()
    assert postmark_auth(Headers([("Authentication-Results", failed)])).verifies(ANA)


# Through a running gateway: one e-mail per provider that passes and one that does not.

CHANNELS: dict[str, dict[str, Any]] = {
    "sendgrid": {"type": "sendgrid-inbound", **BASIC},
    "mailgun": {"type": "mailgun-inbound", "signing_key": SIGNING_KEY},
    "postmark": {"type": "postmark-inbound", **BASIC},
}
BOUNDARY = "xYzZY"


def sendgrid(message_id: str, *, passing: bool) -> tuple[bytes, str]:
    fields = {
        "headers": f"From: Ana Ruiz <{ANA}>\nTo: {OURS}\nMessage-ID: <{message_id}>\n",
        "from": f"Ana Ruiz <{ANA}>",
        "to": OURS,
        "subject": "Order 1042",
        "text": "Where is it?",
        "envelope": f'{{"to": ["{OURS}"], "from": "{ANA}"}}',
        "SPF": "pass" if passing else "softfail",
        "dkim": "{@example.com : pass}" if passing else "{@example.com : fail}",
    }
    sections = [
        f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'.encode()
        for name, value in fields.items()
    ]
    return assemble(sections, BOUNDARY), f"multipart/form-data; boundary={BOUNDARY}"


def mailgun(message_id: str, *, passing: bool) -> tuple[bytes, str]:
    fields = {
        "from": f"Ana Ruiz <{ANA}>",
        "sender": ANA,
        "recipient": OURS,
        "subject": "Order 1042",
        "body-plain": "Where is it?",
        "Message-Id": f"<{message_id}>",
        "X-Mailgun-Spf": "Pass" if passing else "Fail",
        "X-Mailgun-Dkim-Check-Result": "Fail",
    }
    return mailgun_form(
        fields, token=message_id.ljust(50, "t")
    ), "application/x-www-form-urlencoded"


def postmark(message_id: str, *, passing: bool) -> tuple[bytes, str]:
    results = f"inbound.postmarkapp.com; dkim={'pass' if passing else 'fail'} header.d=example.com"
    body = postmark_body(message_id, "Order 1042", headers={"Authentication-Results": results})
    return body, "application/json"


BUILDERS: dict[str, Callable[..., tuple[bytes, str]]] = {
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "postmark": postmark,
}


async def send(
    gut: GatewayUnderTest, channel_id: str, message_id: str, *, passing: bool
) -> Interaction:
    body, content_type = BUILDERS[channel_id](message_id, passing=passing)
    headers = {"Content-Type": content_type}
    if channel_id != "mailgun":
        headers.update(authorization())
    response: ClientResponse = await gut.client.post(
        f"/webhooks/{channel_id}", data=body, headers=headers
    )
    assert response.status == 200, await response.text()
    [stored] = [i for i in await gut.interactions(channel_id) if i.external_id == message_id]
    return stored


@pytest.mark.parametrize("channel_id", CHANNELS)
async def test_both_join_the_customer_and_only_the_failing_one_is_claimed(
    gateway_factory: GatewayFactory, channel_id: str
) -> None:
    config = {"channels": {channel_id: {**CHANNELS[channel_id], "inbound_addresses": [OURS]}}}
    gut = await gateway_factory(config, clock=lambda: RECEIVED)
    first = await send(gut, channel_id, "m-1@example.com", passing=True)
    assert first.customer_id is not None
    passing = await send(gut, channel_id, "m-2@example.com", passing=True)
    failing = await send(gut, channel_id, "m-3@example.com", passing=False)

    assert [i.sender.identities[0].verified for i in (first, passing, failing)] == [
        True,
        True,
        False,
    ]
    assert passing.customer_id == failing.customer_id == first.customer_id
    assert not passing.identity_claimed
    assert failing.identity_claimed
    record = await gut.gateway.store.get_customer(first.customer_id)
    assert record is not None
    assert [(i.value, i.verified) for i in record.identities] == [(ANA, True)]
