"""Settings: a blank token or broken TwiML stops the gateway at start-up, with a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_twilio import TwilioSettings, TwilioVoiceSettings
from gateway_twilio.twiml import EMPTY_TWIML, check_twiml
from pydantic import ValidationError
from recordings import OTHER_TOKEN, TOKEN


def settings(**block: Any) -> TwilioVoiceSettings:
    return TwilioVoiceSettings.model_validate({"type": "twilio-voice", **block})


def test_one_token_or_many() -> None:
    assert [t.get_secret_value() for t in settings(auth_token=TOKEN).auth_token] == [TOKEN]
    many = settings(auth_token=[TOKEN, OTHER_TOKEN]).auth_token
    assert [t.get_secret_value() for t in many] == [TOKEN, OTHER_TOKEN]


@pytest.mark.parametrize("blank", ["", "   ", [TOKEN, ""]])
def test_a_blank_token_is_refused(blank: Any) -> None:
    with pytest.raises(ValidationError, match="auth_token must not be blank"):
        settings(auth_token=blank)


def test_the_token_never_shows() -> None:
    shown = repr(settings(auth_token=TOKEN)) + str(settings(auth_token=TOKEN).model_dump())
    assert TOKEN not in shown


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://gw.example.com", "https://gw.example.com"),
        ("https://gw.example.com/", "https://gw.example.com"),
        (" https://gw.example.com:8443/gateway/ ", "https://gw.example.com:8443/gateway"),
    ],
)
def test_public_url(given: str, stored: str) -> None:
    assert settings(auth_token=TOKEN, public_url=given).public_url == stored


@pytest.mark.parametrize(
    "bad", ["gw.example.com", "ftp://gw.example.com", "https://gw.example.com/?a=1", "https://"]
)
def test_a_bad_public_url_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        settings(auth_token=TOKEN, public_url=bad)


def test_messaging_channels_take_no_twiml() -> None:
    with pytest.raises(ValidationError, match="twiml"):
        TwilioSettings.model_validate({"type": "twilio-sms", "auth_token": TOKEN, "twiml": "x"})


def test_twiml_defaults_to_empty_and_is_checked() -> None:
    assert settings(auth_token=TOKEN).twiml == EMPTY_TWIML
    voicemail = '<?xml version="1.0"?>\n<Response><Say>Hello</Say><Record/></Response>\n'
    assert settings(auth_token=TOKEN, twiml=voicemail).twiml == voicemail.strip()


@pytest.mark.parametrize(
    ("twiml", "error"),
    [
        ("<Response><Say>Hi</Response>", "not well-formed"),
        ("Say hello", "not well-formed"),
        ("", "not well-formed"),
        ("<Say>Hi</Say>", "root element must be <Response>, found <Say>"),
        (
            '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            "<Response><Say>&b;</Say></Response>",
            "DOCTYPE",
        ),
        ('<!DOCTYPE Response SYSTEM "http://evil.example/x.dtd"><Response/>', "DOCTYPE"),
    ],
)
def test_bad_twiml_is_refused(twiml: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_twiml(twiml)
    with pytest.raises(ValidationError, match="twiml"):
        settings(auth_token=TOKEN, twiml=twiml)
