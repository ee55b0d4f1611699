"""The secret token: compared in constant time with each configured one, never echoed."""

from __future__ import annotations

import hmac

import pytest
from gateway_telegram import SECRET_HEADER, verify_secret_token
from telegram_cases import ROTATED_TOKEN, SECRET_TOKEN

from gateway.errors import SignatureError

TOKENS = (SECRET_TOKEN.encode(), ROTATED_TOKEN.encode())


@pytest.mark.parametrize("token", [SECRET_TOKEN, ROTATED_TOKEN])
def test_any_configured_token_is_accepted(token: str) -> None:
    verify_secret_token(TOKENS, {SECRET_HEADER: token})


@pytest.mark.parametrize(
    "offered",
    [None, "", SECRET_TOKEN[:-1], SECRET_TOKEN + "x", SECRET_TOKEN.upper(), f" {SECRET_TOKEN}",
     "é" * 20, "\udcff"],
)  # fmt: skip
def test_anything_else_is_refused_naming_no_token(offered: str | None) -> None:
    headers = {} if offered is None else {SECRET_HEADER: offered}
    with pytest.raises(SignatureError) as caught:
        verify_secret_token(TOKENS, headers)
    assert SECRET_TOKEN not in str(caught.value)
    assert ROTATED_TOKEN not in str(caught.value)


def test_no_configured_token_refuses_everything() -> None:
    with pytest.raises(SignatureError, match="no secret_token"):
        verify_secret_token((), {SECRET_HEADER: SECRET_TOKEN})


def test_every_token_is_compared_in_constant_time(
    compare_digest_calls: list[tuple[bytes, bytes]],
) -> None:
    """Each configured token goes through `hmac.compare_digest`, even after a match."""
    verify_secret_token(TOKENS, {SECRET_HEADER: SECRET_TOKEN})
    assert compare_digest_calls == [(SECRET_TOKEN.encode(), token) for token in TOKENS]


def test_compare_digest_is_what_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """No `==` short-cut: if `compare_digest` says no, the token is refused."""
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: False)
    with pytest.raises(SignatureError):
        verify_secret_token(TOKENS, {SECRET_HEADER: SECRET_TOKEN})
