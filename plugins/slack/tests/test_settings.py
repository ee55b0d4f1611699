"""The Slack channel refuses to start without its signing secret; `insecure` answers unsigned."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_slack import SlackSettings
from pydantic import ValidationError
from slack_cases import SIGNING_SECRET, fixture

from gateway.errors import ConfigError
from gateway.testing import GatewayFactory


def settings(**block: Any) -> SlackSettings:
    return SlackSettings.model_validate({"type": "slack", **block})


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({}, "set signing_secret"),
        ({"signing_secret": []}, "set signing_secret"),
        ({"signing_secret": ""}, "signing_secret must not be blank"),
        ({"signing_secret": "   "}, "signing_secret must not be blank"),
        ({"signing_secret": [SIGNING_SECRET, ""]}, "signing_secret must not be blank"),
    ],
)
def test_a_missing_or_blank_secret_is_refused(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**block)


def test_one_secret_or_a_list() -> None:
    one = settings(signing_secret=SIGNING_SECRET).signing_secret
    assert [secret.get_secret_value() for secret in one] == [SIGNING_SECRET]
    both = settings(signing_secret=["old", SIGNING_SECRET]).signing_secret
    assert [secret.get_secret_value() for secret in both] == ["old", SIGNING_SECRET]


async def test_the_gateway_refuses_a_channel_without_a_secret(
    gateway_factory: GatewayFactory,
) -> None:
    with pytest.raises(ConfigError) as caught:
        await gateway_factory({"channels": {"slack": {"type": "slack"}}})
    assert any("channels.slack" in p and "signing_secret" in p for p in caught.value.problems)


async def test_an_insecure_channel_answers_url_verification_unsigned(
    gateway_factory: GatewayFactory,
) -> None:
    gut = await gateway_factory(
        {"channels": {"slack": {"type": "slack", "insecure": True}}, "backends": {}}
    )
    response = await gut.client.post(
        "/webhooks/slack",
        data=fixture("url_verification"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 200
    assert (await response.json())["challenge"].startswith("3eZbrw")
