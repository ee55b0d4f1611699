"""Settings: one secret token or several; a blank or malformed one stops the gateway at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_telegram import TelegramSettings
from pydantic import ValidationError
from telegram_cases import ROTATED_TOKEN, SECRET_TOKEN


def settings(**block: Any) -> TelegramSettings:
    return TelegramSettings.model_validate({"type": "telegram", **block})


def test_one_token_or_many() -> None:
    assert [t.get_secret_value() for t in settings(secret_token=SECRET_TOKEN).secret_token] == [
        SECRET_TOKEN
    ]
    many = settings(secret_token=[SECRET_TOKEN, ROTATED_TOKEN]).secret_token
    assert [t.get_secret_value() for t in many] == [SECRET_TOKEN, ROTATED_TOKEN]


@pytest.mark.parametrize("blank", ["", "   ", [SECRET_TOKEN, ""]])
def test_a_blank_token_is_refused(blank: Any) -> None:
    with pytest.raises(ValidationError, match="secret_token must not be blank"):
        settings(secret_token=blank)


@pytest.mark.parametrize(
    "bad", ["has space", "dots.are.out", "é", "x" * 257, [SECRET_TOKEN, "a/b"]]
)
def test_a_token_setwebhook_would_refuse_is_refused(bad: Any) -> None:
    with pytest.raises(ValidationError, match="1-256 characters"):
        settings(secret_token=bad)


def test_the_longest_token_setwebhook_takes_is_accepted() -> None:
    assert settings(secret_token="A" * 256).secret_token


def test_no_token_needs_insecure() -> None:
    with pytest.raises(ValidationError, match="set secret_token"):
        settings()
    assert settings(insecure=True).secret_token == []


def test_the_token_never_shows() -> None:
    block = settings(secret_token=SECRET_TOKEN)
    assert SECRET_TOKEN not in repr(block) + str(block.model_dump())
