"""A Meta channel refuses to start without its app secret and verify token."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_meta import MetaSettings, WhatsAppCloudChannel
from meta_cases import APP_SECRET, SETTINGS, VERIFY_TOKEN
from pydantic import ValidationError

from gateway.errors import ConfigError
from gateway.testing import GatewayFactory, make_channel


def settings(**block: Any) -> MetaSettings:
    return MetaSettings.model_validate({"type": "whatsapp-cloud", **block})


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"verify_token": VERIFY_TOKEN}, "set app_secret"),
        ({"app_secret": APP_SECRET}, "set verify_token"),
        ({}, "set app_secret and verify_token"),
        ({"app_secret": "", "verify_token": VERIFY_TOKEN}, "app_secret must not be blank"),
        ({"app_secret": "   ", "verify_token": VERIFY_TOKEN}, "app_secret must not be blank"),
        ({"app_secret": [APP_SECRET, ""], "verify_token": VERIFY_TOKEN}, "must not be blank"),
        ({"app_secret": APP_SECRET, "verify_token": ""}, "verify_token must not be blank"),
    ],
)
def test_missing_or_blank_secrets_are_refused(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**block)


def test_insecure_channels_need_no_secret() -> None:
    assert settings(insecure=True).app_secret == []


def test_one_secret_or_several() -> None:
    assert len(settings(**SETTINGS).app_secret) == 1
    assert len(settings(app_secret=["a", "b"], verify_token="t").app_secret) == 2


def test_secrets_never_show() -> None:
    shown = repr(settings(**SETTINGS)) + str(make_channel(WhatsAppCloudChannel, SETTINGS).settings)
    assert APP_SECRET not in shown
    assert VERIFY_TOKEN not in shown


async def test_the_configuration_error_names_the_channel_and_no_secret(
    gateway_factory: GatewayFactory,
) -> None:
    block = {"type": "whatsapp-cloud", "app_secret": APP_SECRET, "verify_token": " "}
    with pytest.raises(ConfigError) as caught:
        await gateway_factory({"channels": {"wa": block}, "backends": {}})
    [problem] = caught.value.problems
    assert "channels.wa.verify_token" in problem
    assert "must not be blank" in problem
    assert APP_SECRET not in problem


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="extra"):
        settings(**SETTINGS, app_id="123")
