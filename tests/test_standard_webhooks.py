"""Standard Webhooks signatures, cross-checked against the reference `standardwebhooks` library."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from gateway import standard_webhooks
from gateway.errors import SignatureError
from tests.payloads import SECRET

BODY = b'{"external_id":"m-1","content":{"text":"caf\\u00e9 \xe2\x98\x95"}}'
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
KEY = standard_webhooks.decode_secret(SECRET)


def test_signature_matches_the_reference_library() -> None:
    ours = standard_webhooks.sign(KEY, "msg_p5jXN8AQM9LWM0D4loKWxJek", int(NOW.timestamp()), BODY)
    theirs = Webhook(SECRET).sign("msg_p5jXN8AQM9LWM0D4loKWxJek", NOW, BODY.decode())
    assert ours == theirs


def test_reference_library_verifies_our_headers() -> None:
    headers = standard_webhooks.signature_headers(
        [KEY], "msg_1", int(datetime.now(UTC).timestamp()), BODY
    )
    assert Webhook(SECRET).verify(BODY, headers) is not None


def test_we_verify_the_reference_librarys_signature() -> None:
    signature = Webhook(SECRET).sign("msg_1", NOW, BODY.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(NOW.timestamp())),
        "webhook-signature": signature,
    }
    standard_webhooks.verify([KEY], headers, BODY, NOW)


def test_any_of_several_signatures_and_secrets_verifies() -> None:
    other = standard_webhooks.decode_secret("whsec_" + "B" * 32)
    headers = standard_webhooks.signature_headers([other, KEY], "msg_1", int(NOW.timestamp()), BODY)
    standard_webhooks.verify([KEY], headers, BODY, NOW)  # second signature matches
    headers = standard_webhooks.signature_headers([KEY], "msg_1", int(NOW.timestamp()), BODY)
    standard_webhooks.verify([other, KEY], headers, BODY, NOW)  # second secret matches


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-id": "msg_2"}, "no webhook-signature matches"),
        ({"webhook-signature": "v2,abc"}, "no webhook-signature matches"),
        ({"webhook-timestamp": "soon"}, "not a Unix time"),
        ({"webhook-id": ""}, "missing webhook-id header"),
    ],
)
def test_tampering_fails(change: dict[str, str], message: str) -> None:
    headers = standard_webhooks.signature_headers([KEY], "msg_1", int(NOW.timestamp()), BODY)
    with pytest.raises(SignatureError, match=message):
        standard_webhooks.verify([KEY], {**headers, **change}, BODY, NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_timestamps_outside_five_minutes_fail(skew: timedelta) -> None:
    headers = standard_webhooks.signature_headers(
        [KEY], "msg_1", int((NOW + skew).timestamp()), BODY
    )
    with pytest.raises(SignatureError, match="5 minutes"):
        standard_webhooks.verify([KEY], headers, BODY, NOW)


@pytest.mark.parametrize("secret", ["whsec_not*base64", "whsec_c2hvcnQ="])
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match=r"whsec_|16 bytes"):
        standard_webhooks.decode_secret(secret)
