"""`X-Twilio-Signature`, cross-checked both ways against the official SDK's RequestValidator."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from gateway_twilio import TwilioSmsChannel
from gateway_twilio.signature import (
    check_body_hash,
    check_signature,
    compute_signature,
    signature_algorithm,
    signed_urls,
)
from multidict import MultiDict
from recordings import (
    FORM,
    JSON,
    OTHER_TOKEN,
    RECORDINGS,
    TOKEN,
    URL,
    as_json,
    fixture,
    json_url,
    pairs,
    sdk_signature,
    signed_form,
    signed_json,
)
from twilio.request_validator import RequestValidator

from gateway.errors import SignatureError
from gateway.plugin import Channel
from gateway.testing import make_channel, webhook_request

NAMES = RECORDINGS.names()
URLS = (
    "https://gateway.example/webhooks/sms",
    "https://gateway.example:443/webhooks/sms",
    "http://127.0.0.1:8080/webhooks/sms?source=console&id=42",
    "https://gateway.example/webhooks/sms?name=J%C3%B6rg+D&empty=",
)


def channel(**settings: Any) -> Channel[Any]:
    return make_channel(TwilioSmsChannel, {"auth_token": TOKEN, **settings})


def form_request(url: str, body: bytes, signature: str, **headers: str) -> Any:
    return webhook_request(
        body, url=url, content_type=FORM, headers={"X-Twilio-Signature": signature, **headers}
    )


def test_twilio_documented_example() -> None:
    """The example of Twilio's security docs and api-snippets: token 12345."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    expected = "GvWf1cFY/Q7PnoempGyD5oXAezc="
    as_lists = {name: [value] for name, value in params.items()}
    assert compute_signature("12345", url, as_lists) == expected
    assert RequestValidator("12345").compute_signature(url, params) == expected


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("url", URLS)
def test_sdk_signed_requests_verify(name: str, url: str) -> None:
    """Every recording, signed by the SDK for any URL, passes `verify`."""
    channel().verify(signed_form(fixture(name), url=url))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("url", URLS)
def test_our_signatures_verify_with_the_sdk(name: str, url: str) -> None:
    """What we compute is what the SDK accepts, and what it computes."""
    body = fixture(name)
    params = pairs(body)
    ours = compute_signature(TOKEN, url, {k: params.getall(k) for k in params})
    assert ours == sdk_signature(url, params)
    assert RequestValidator(TOKEN).validate(url, params, ours)


@pytest.mark.parametrize(
    ("signed", "called"),
    [
        ("https://gateway.example/webhooks/sms", "https://gateway.example:443/webhooks/sms"),
        ("https://gateway.example:443/webhooks/sms", "https://gateway.example/webhooks/sms"),
        ("http://gateway.example/webhooks/sms?a=1", "http://gateway.example:80/webhooks/sms?a=1"),
        ("http://gateway.example:80/webhooks/sms", "http://gateway.example/webhooks/sms"),
    ],
)
def test_the_default_port_may_be_there_or_not(signed: str, called: str) -> None:
    """Twilio's back end is inconsistent about default ports: both forms verify, as in the SDK."""
    body = fixture("sms_inbound")
    signature = sdk_signature(signed, pairs(body))
    channel().verify(form_request(called, body, signature))
    assert RequestValidator(TOKEN).validate(called, pairs(body), signature)


def test_signed_urls() -> None:
    assert signed_urls("https://a.example/x?y=1") == [
        "https://a.example/x?y=1",
        "https://a.example:443/x?y=1",
    ]
    assert signed_urls("http://[::1]:8080/x") == ["http://[::1]:8080/x", "http://[::1]/x"]
    assert signed_urls("http://a.example:notaport/x") == ["http://a.example:notaport/x"]


def test_another_host_or_path_fails() -> None:
    body = fixture("sms_inbound")
    signature = sdk_signature("https://gateway.example/webhooks/sms", pairs(body))
    for url in ("https://evil.example/webhooks/sms", "https://gateway.example/webhooks/other"):
        with pytest.raises(SignatureError) as caught:
            channel().verify(form_request(url, body, signature))
        assert url in str(caught.value)
        assert TOKEN not in str(caught.value)


def test_repeated_keys_are_signed_like_the_sdk() -> None:
    """Repeated names: every distinct value, sorted; the SDK (a MultiDict) agrees both ways."""
    body = b"Tag=b&To=%2B14155550100&Tag=a&Tag=b&MessageSid=SM1&Tag=c&From=%2B14155550123"
    params = pairs(body)
    assert params.getall("Tag") == ["b", "a", "b", "c"]
    signature = sdk_signature(URL, params)
    as_lists = {k: params.getall(k) for k in params}
    assert compute_signature(TOKEN, URL, as_lists) == signature
    channel().verify(form_request(URL, body, signature))
    # Dropping one value of a repeated name breaks the signature.
    dropped = body.replace(b"&Tag=c", b"")
    with pytest.raises(SignatureError):
        channel().verify(form_request(URL, dropped, signature))


def test_json_bodies_are_checked_by_body_sha256() -> None:
    """JSON: the URL carries bodySHA256 and alone is signed; the SDK agrees both ways."""
    body = as_json(fixture("sms_inbound"))
    request = signed_json(body, url=URL + "?source=json")
    channel().verify(request)
    assert RequestValidator(TOKEN).validate(
        request.url, body.decode(), request.headers["X-Twilio-Signature"]
    )
    ours = compute_signature(TOKEN, request.url)
    assert RequestValidator(TOKEN).validate(request.url, body.decode(), ours)


def test_a_json_body_that_does_not_match_its_hash_fails() -> None:
    body = as_json(fixture("sms_inbound"))
    request = signed_json(body)
    tampered = webhook_request(
        body.replace(b"late", b"LATE"),
        url=request.url,
        headers=dict(request.headers),
        content_type=JSON,
    )
    with pytest.raises(SignatureError, match="bodySHA256 does not match"):
        channel().verify(tampered)


def test_a_json_body_without_body_sha256_fails() -> None:
    body = as_json(fixture("sms_inbound"))
    signature = sdk_signature(URL, {})
    unhashed = webhook_request(
        body, url=URL, headers={"X-Twilio-Signature": signature}, content_type=JSON
    )
    with pytest.raises(SignatureError, match="bodySHA256"):
        channel().verify(unhashed)


def test_check_body_hash_accepts_upper_case_hex() -> None:
    body = b'{"MessageSid": "SM1"}'
    digest = hashlib.sha256(body).hexdigest().upper()
    check_body_hash(f"{URL}?bodySHA256={digest}", body)


def test_a_second_token_verifies_during_rotation() -> None:
    """`auth_token` as a list: a request signed with either token verifies."""
    body = fixture("sms_inbound")
    rotating = channel(auth_token=[TOKEN, OTHER_TOKEN])
    rotating.verify(signed_form(body, token=OTHER_TOKEN))
    rotating.verify(signed_form(body, token=TOKEN))
    with pytest.raises(SignatureError):
        channel().verify(signed_form(body, token=OTHER_TOKEN))


def test_shared_key_signatures_name_their_algorithm() -> None:
    """A SharedKey webhook names HMAC_SHA256 in X-Twilio-Webhooks-Signature-Settings."""
    body = fixture("sms_inbound")
    params = pairs(body)
    header = "key=webhooks_sharedkey_01,algorithm=HMAC_SHA256"
    signature = RequestValidator(OTHER_TOKEN).compute_signature(URL, params, "HMAC_SHA256")
    shared = channel(auth_token=OTHER_TOKEN)
    request = form_request(URL, body, signature, **{"X-Twilio-Webhooks-Signature-Settings": header})
    shared.verify(request)
    as_lists = {k: params.getall(k) for k in params}
    assert compute_signature(OTHER_TOKEN, URL, as_lists, "HMAC_SHA256") == signature
    # The same signature read as HMAC-SHA1 (no settings header) does not verify.
    with pytest.raises(SignatureError):
        shared.verify(form_request(URL, body, signature))


def test_signature_algorithm() -> None:
    assert signature_algorithm(None) == "HMAC_SHA1"
    assert signature_algorithm("key=k1") == "HMAC_SHA1"
    assert signature_algorithm("key=k1, algorithm=hmac_sha256") == "HMAC_SHA256"
    with pytest.raises(SignatureError, match="unsupported algorithm"):
        signature_algorithm("algorithm=HMAC_MD5")


@pytest.mark.parametrize("offered", ["", "not base64 at all", "é" * 28, "\udcff" * 28])
def test_garbage_signatures_fail_without_crashing(offered: str) -> None:
    body = fixture("sms_inbound")
    with pytest.raises(SignatureError):
        channel().verify(form_request(URL, body, offered))
    with pytest.raises(SignatureError):
        check_signature([TOKEN], URL, {}, offered)


def test_public_url_replaces_the_url_as_seen() -> None:
    """Behind a proxy: Twilio signed the public URL, the gateway saw an internal one."""
    body = fixture("sms_inbound")
    public = "https://gw.example.com/gateway/webhooks/sms?id=7"
    signature = sdk_signature(public, pairs(body))
    internal = form_request("http://10.0.0.5:8080/webhooks/sms?id=7", body, signature)
    channel(public_url="https://gw.example.com/gateway/").verify(internal)
    with pytest.raises(SignatureError, match=r"https://gw\.example\.com/webhooks/sms\?id=7"):
        channel(public_url="https://gw.example.com").verify(internal)


def test_public_url_keeps_body_sha256_of_json_webhooks() -> None:
    body = as_json(fixture("sms_inbound"))
    public = json_url("https://gw.example.com/webhooks/sms", body)
    signature = sdk_signature(public, {})
    internal_url = public.replace("https://gw.example.com", "http://10.0.0.5:8080")
    request = webhook_request(
        body, url=internal_url, headers={"X-Twilio-Signature": signature}, content_type=JSON
    )
    channel(public_url="https://gw.example.com").verify(request)


def test_sdk_multidict_and_ours_agree_on_blank_values() -> None:
    """Blank values (an MMS without text has `Body=`) are signed as the name alone."""
    params = MultiDict([("Body", ""), ("MessageSid", "SM1"), ("NumMedia", "1")])
    as_lists = {k: params.getall(k) for k in params}
    assert compute_signature(TOKEN, URL, as_lists) == sdk_signature(URL, params)
