"""Meta's verification request: the challenge back for the right token, 403 otherwise."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from gateway_meta import InstagramChannel, MessengerChannel, WhatsAppCloudChannel
from meta_cases import SETTINGS, VERIFY_TOKEN

from gateway.plugin import WebhookRequest
from gateway.testing import make_channel, webhook_request

CHANNEL_TYPES = [WhatsAppCloudChannel, MessengerChannel, InstagramChannel]


def verification(method: str = "GET", **params: str) -> WebhookRequest:
    query = urlencode(params)
    return webhook_request(method=method, url=f"https://gateway.example/webhooks/wa?{query}")


def hub(token: str = VERIFY_TOKEN, challenge: str = "1158201444", mode: str = "subscribe") -> Any:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def error_of(body: bytes) -> Any:
    return json.loads(body)["error"]


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
def test_the_right_token_gets_the_challenge_back(channel_type: Any) -> None:
    channel = make_channel(channel_type, SETTINGS)
    answer = channel.handshake(verification(**hub()))
    assert answer is not None
    assert (answer.status, answer.body, answer.content_type) == (200, b"1158201444", "text/plain")


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
def test_a_wrong_token_is_forbidden(channel_type: Any) -> None:
    channel = make_channel(channel_type, SETTINGS)
    answer = channel.handshake(verification(**hub(token="guess")))
    assert answer is not None
    assert (answer.status, answer.content_type) == (403, "application/json")
    assert error_of(answer.body)["code"] == "bad_verify_token"
    assert b"1158201444" not in answer.body
    assert VERIFY_TOKEN.encode() not in answer.body


def test_a_missing_token_is_forbidden() -> None:
    params = {"hub.mode": "subscribe", "hub.challenge": "42"}
    answer = make_channel(WhatsAppCloudChannel, SETTINGS).handshake(verification(**params))
    assert answer is not None
    assert answer.status == 403


def test_without_a_configured_token_every_request_is_forbidden() -> None:
    """An `insecure` channel may leave out verify_token; then no token (not even "") passes."""
    channel = make_channel(WhatsAppCloudChannel, {"insecure": True})
    for token in ("", "anything"):
        answer = channel.handshake(verification(**hub(token=token)))
        assert answer is not None
        assert answer.status == 403


def test_another_mode_is_a_bad_request() -> None:
    channel = make_channel(MessengerChannel, SETTINGS)
    answer = channel.handshake(verification(**hub(mode="unsubscribe")))
    assert answer is not None
    assert answer.status == 400
    assert "hub.mode" in error_of(answer.body)["message"]


def test_a_missing_challenge_is_a_bad_request() -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}
    answer = make_channel(MessengerChannel, SETTINGS).handshake(verification(**params))
    assert answer is not None
    assert answer.status == 400


def test_other_requests_are_not_handshakes() -> None:
    channel = make_channel(InstagramChannel, SETTINGS)
    assert channel.handshake(verification()) is None  # a GET without hub.* parameters
    assert channel.handshake(verification("POST", **hub())) is None  # events come by POST


def test_the_token_is_compared_in_constant_time(
    compare_digest_calls: list[tuple[bytes, bytes]],
) -> None:
    make_channel(WhatsAppCloudChannel, SETTINGS).handshake(verification(**hub(token="guess")))
    assert compare_digest_calls == [(b"guess", VERIFY_TOKEN.encode())]
