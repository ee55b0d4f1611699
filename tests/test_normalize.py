"""Identity normalisation: one canonical value per person, whatever the provider wrote."""

from __future__ import annotations

import pytest

from gateway.builtins.generic import GenericChannel
from gateway.normalize import normalize_email, normalize_identity, normalize_phone
from gateway.schema import Identity
from gateway.testing import make_channel, run_channel, webhook_request


@pytest.mark.parametrize(
    ("raw", "region", "international", "e164"),
    [
        ("+1 (415) 555-0100", "US", False, "+14155550100"),
        ("(415) 555-0100", "US", False, "+14155550100"),
        ("whatsapp:+14155550100", "US", False, "+14155550100"),  # Twilio WhatsApp address
        ("tel:+14155550100", "US", False, "+14155550100"),
        ("07911 123456", "GB", False, "+447911123456"),
        ("447911123456", "US", True, "+447911123456"),  # WhatsApp wa_id: digits, no '+'
        ("14155550100", "GB", True, "+14155550100"),  # Vonage msisdn
        ("+15551234567", "US", False, "+15551234567"),  # fictional 555 numbers are possible
    ],
)
def test_phones_become_e164(raw: str, region: str, international: bool, e164: str) -> None:
    assert normalize_phone(raw, region, international=international) == e164


@pytest.mark.parametrize("raw", ["anonymous", "555-1234", "12345", "", "+", "0000"])
def test_impossible_phones_are_refused(raw: str) -> None:
    assert normalize_phone(raw, "US") is None


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("Jane Doe <jane@example.com>", "jane@example.com"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("jane@münchen.de", "jane@xn--mnchen-3ya.de"),
    ],
)
def test_emails_are_canonical(raw: str, address: str) -> None:
    assert normalize_email(raw) == address


@pytest.mark.parametrize("raw", ["jane", "@example.com", "jane@", "not an address@x"])
def test_impossible_emails_are_refused(raw: str) -> None:
    assert normalize_email(raw) is None


def test_identities_by_kind() -> None:
    assert normalize_identity("phone", "client:alice", default_region="US") == Identity(
        kind="twilio_client", value="alice"
    )
    assert normalize_identity(
        "phone", "447911123456", international=True, default_region="US"
    ) == Identity(kind="phone", value="+447911123456")
    assert normalize_identity("slack_user", " T1:U2 ", default_region="US") == Identity(
        kind="slack_user", value="T1:U2"
    )
    assert normalize_identity("email", "nobody", default_region="US") is None
    assert normalize_identity("telegram_user", "  ", default_region="US") is None


def test_generic_channel_normalises_in_its_region() -> None:
    channel = make_channel(GenericChannel, {"insecure": True}, default_region="GB")
    body = (
        '{"external_id": "m-1", "sender": {"identities": ['
        '{"kind": "phone", "value": "07911 123456"}, {"kind": "email", "value": "Jo@X.org"}]}}'
    )
    [interaction] = run_channel(channel, webhook_request(body, content_type="application/json"))
    assert interaction.sender.identities == [
        Identity(kind="phone", value="+447911123456"),
        Identity(kind="email", value="jo@x.org"),
    ]
