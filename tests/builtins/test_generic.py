"""The `generic` channel without a server, through the helpers plugin authors use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from gateway.builtins.generic import GenericChannel
from gateway.errors import PayloadError, SignatureError
from gateway.request import WebhookRequest
from gateway.testing import make_channel, run_channel, standard_webhook_headers, webhook_request
from tests.payloads import SECRET, message

NEW_SECRET = "whsec_" + "C" * 32


def request_for(payload: object, secret: str = SECRET, msg_id: str = "msg_1") -> WebhookRequest:
    body = orjson.dumps(payload)
    return webhook_request(
        body,
        headers=standard_webhook_headers(secret, body, msg_id=msg_id),
        content_type="application/json",
    )


def test_parses_a_canonical_message() -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET, "kind": "sms"}, channel_id="sms")
    [interaction] = run_channel(channel, request_for(message()))
    assert interaction.channel.model_dump() == {"id": "sms", "kind": "sms", "provider": "generic"}
    assert (interaction.type, interaction.direction) == ("message", "inbound")
    assert interaction.occurred_at == datetime(2026, 11, 22, 10, tzinfo=UTC)
    assert interaction.content is not None
    assert interaction.content.text == "My order has not arrived"
    assert interaction.raw is None


def test_include_raw_keeps_the_item() -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET, "include_raw": True})
    [interaction] = run_channel(channel, request_for(message()))
    assert interaction.raw == message()


def test_secret_rotation_accepts_old_and_new() -> None:
    channel = make_channel(GenericChannel, {"secret": [SECRET, NEW_SECRET]})
    for secret in (SECRET, NEW_SECRET):
        assert run_channel(channel, request_for(message(), secret))
    with pytest.raises(SignatureError):
        run_channel(channel, request_for(message(), "whsec_" + "D" * 32))


def test_replay_window_uses_the_channel_clock() -> None:
    later = datetime.now(UTC) + timedelta(minutes=10)
    channel = make_channel(GenericChannel, {"secret": SECRET}, clock=lambda: later)
    with pytest.raises(SignatureError, match="5 minutes"):
        run_channel(channel, request_for(message()))


def test_status_needs_its_details() -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET})
    body = {**message(), "type": "status"}
    with pytest.raises(PayloadError) as caught:
        run_channel(channel, request_for(body))
    assert caught.value.status == 422
    assert "needs 'status'" in str(caught.value)


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ([], 422, "expected 1 to 100 interactions, got 0"),
        ("hello", 422, "expected a JSON object"),
        ({**message(), "occurred_at": "2026-11-22T10:00:00"}, 422, "occurred_at: "),
        ({**message(), "metadata": {"n": 1}}, 422, "metadata.n: "),
    ],
)
def test_payload_errors(payload: object, status: int, text: str) -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET})
    with pytest.raises(PayloadError) as caught:
        run_channel(channel, request_for(payload))
    assert caught.value.status == status
    assert text in str(caught.value)


@pytest.mark.parametrize("identities_verified", [True, False])
def test_identities_verified_false_makes_every_identity_asserted(identities_verified: bool) -> None:
    channel = make_channel(
        GenericChannel, {"secret": SECRET, "identities_verified": identities_verified}
    )
    body = message()
    body["sender"]["identities"] += [
        {"kind": "email", "value": "Ann@Example.com", "verified": True}
    ]
    body["recipient"] = {"identities": [{"kind": "phone", "value": "(415) 555-0100"}]}
    [interaction] = run_channel(channel, request_for(body))
    parties = (interaction.sender, interaction.recipient)
    assert [(i.kind, i.value, i.verified) for party in parties for i in party.identities] == [
        ("phone", "+15551234567", identities_verified),
        ("email", "ann@example.com", identities_verified),
        ("phone", "+14155550100", identities_verified),
    ]


def test_an_unverified_channel_still_refuses_a_verified_flag_that_is_no_boolean() -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET, "identities_verified": False})
    body = message()
    body["sender"]["identities"][0]["verified"] = "yes"
    with pytest.raises(PayloadError) as caught:
        run_channel(channel, request_for(body))
    assert (caught.value.status, caught.value.field) == (422, "sender.identities.0.verified")


def test_acknowledgement_lists_ids() -> None:
    channel = make_channel(GenericChannel, {"secret": SECRET})
    req = request_for([message("a"), message("b")])
    stored = run_channel(channel, req)
    answer = channel.acknowledge(req, stored)
    assert (answer.status, answer.content_type) == (200, "application/json")
    assert orjson.loads(answer.body) == {"ids": [i.id for i in stored]}
