"""The v0 signature, cross-checked with the official `slack_sdk` `SignatureVerifier`."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from gateway_slack import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header, verify_signature
from slack_cases import RECEIVED, RECORDINGS, SIGNING_SECRET, fixture, slack_headers
from slack_sdk.signature import Clock, SignatureVerifier

from gateway.errors import SignatureError

NOW = int(RECEIVED.timestamp())
OLD_SECRET = "0b1c2d3e4f5a69788796a5b4c3d2e1f0"
_rng = random.Random(11)
BODIES = [
    *(fixture(name) for name in RECORDINGS.names()),
    '{"type":"event_callback","event":{"text":"ñandú 📦 \\u00e9"}}'.encode(),
    b"",
    *(
        "".join(_rng.choice('ab{}":,é☕ \n\\/') for _ in range(_rng.randrange(1, 200))).encode()
        for _ in range(20)
    ),
]


class FixedClock(Clock):
    """The SDK's clock, stopped at `NOW`."""

    def now(self) -> float:
        return float(NOW)


SDK = SignatureVerifier(SIGNING_SECRET, clock=FixedClock())


def verify(
    headers: dict[str, str], body: bytes, secrets: tuple[str, ...] = (SIGNING_SECRET,)
) -> None:
    keys = [secret.encode() for secret in secrets]
    verify_signature(keys, headers, body, datetime.fromtimestamp(NOW, UTC))


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_sdk_and_the_plugin_sign_alike(body: bytes) -> None:
    timestamp = str(NOW - 7)
    sdk_signature = SDK.generate_signature(timestamp=timestamp, body=body)
    assert signature_header(SIGNING_SECRET, timestamp, body) == sdk_signature
    headers = {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: str(sdk_signature)}
    verify(headers, body)  # what the SDK signs, the plugin accepts
    assert SDK.is_valid_request(body, slack_headers(body, NOW - 7))  # and the other way round


@pytest.mark.parametrize("offset", [-100_000, -301, -300, -1, 0, 1, 299, 300, 301, 100_000])
def test_the_five_minute_window_is_the_sdks(offset: int) -> None:
    body = fixture("dm")
    headers = slack_headers(body, NOW + offset)
    sdk_accepts = SDK.is_valid_request(body, headers)
    assert sdk_accepts == (abs(offset) <= 300)
    if sdk_accepts:
        verify(headers, body)
    else:
        with pytest.raises(SignatureError, match="5 minutes"):
            verify(headers, body)


def test_any_of_several_secrets_verifies_for_rotation() -> None:
    body = fixture("dm")
    for secret in (OLD_SECRET, SIGNING_SECRET):
        verify(slack_headers(body, NOW, secret=secret), body, (OLD_SECRET, SIGNING_SECRET))
    with pytest.raises(SignatureError, match="does not match") as caught:
        verify(slack_headers(body, NOW, secret="another-app"), body, (OLD_SECRET, SIGNING_SECRET))
    assert OLD_SECRET not in str(caught.value)
    assert SIGNING_SECRET not in str(caught.value)


def test_signatures_are_compared_in_constant_time(
    compare_digest_calls: list[tuple[bytes, bytes]],
) -> None:
    body = fixture("dm")
    headers = slack_headers(body, NOW, secret=SIGNING_SECRET)
    verify(headers, body, (OLD_SECRET, SIGNING_SECRET))
    assert [offered for offered, _ in compare_digest_calls] == [
        headers[SIGNATURE_HEADER].encode()
    ] * 2


def test_the_timestamp_is_signed() -> None:
    body = fixture("dm")
    headers = slack_headers(body, NOW)
    headers[TIMESTAMP_HEADER] = str(NOW - 1)
    with pytest.raises(SignatureError, match="does not match"):
        verify(headers, body)


@pytest.mark.parametrize(
    "timestamp",
    ["", " ", "²", "\u0661\u0662", "1e3", "-1", f" {NOW}", f"{NOW}\n", f"{NOW}.5", "9" * 5000],
)
def test_a_timestamp_that_is_not_unix_seconds_is_refused(timestamp: str) -> None:
    body = fixture("dm")
    headers = {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_header(SIGNING_SECRET, timestamp, body),
    }
    with pytest.raises(SignatureError):
        verify(headers, body)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, f"missing {TIMESTAMP_HEADER}"),
        ({TIMESTAMP_HEADER: str(NOW)}, f"missing {SIGNATURE_HEADER}"),
        ({TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "sha256=abc"}, "must be 'v0='"),
        ({TIMESTAMP_HEADER: str(NOW), SIGNATURE_HEADER: "v0=\udcff"}, "does not match"),
    ],
)
def test_malformed_headers_say_what_is_wrong(headers: dict[str, str], message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        verify(headers, fixture("dm"))


def test_no_secret_configured_verifies_nothing() -> None:
    body = fixture("dm")
    with pytest.raises(SignatureError, match="no signing_secret"):
        verify(slack_headers(body, NOW), body, ())


def test_the_window_follows_the_channel_clock() -> None:
    body = fixture("dm")
    later = datetime.fromtimestamp(NOW, UTC) + timedelta(minutes=6)
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_signature([SIGNING_SECRET.encode()], slack_headers(body, NOW), body, later)
