"""`X-Hub-Signature-256`, cross-checked against the computation in Meta's documentation."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from gateway_meta import (
    InstagramChannel,
    MessengerChannel,
    WhatsAppCloudChannel,
    signature_header,
    verify_signature,
)
from meta_cases import (
    APP_SECRET,
    CHANNELS,
    RECORDINGS,
    SETTINGS,
    fixture,
    hub_signature,
    signed_request,
)

from gateway.errors import SignatureError
from gateway.testing import make_channel

ALL_FIXTURES = [name for prefix in CHANNELS for name in RECORDINGS.names(prefix)]


def meta_valid(app_secret: bytes, raw: bytes, header: str) -> bool:
    """The check as Meta's docs describe it, written out independently of the plugin."""
    expected = "sha256=" + hmac.new(app_secret, raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_the_header_is_the_documented_hmac(name: str) -> None:
    body = fixture(name)
    header = signature_header(APP_SECRET, body)
    assert header == hub_signature(APP_SECRET, body)
    assert meta_valid(APP_SECRET.encode(), body, header)
    verify_signature([APP_SECRET.encode()], {"X-Hub-Signature-256": header}, body)


@pytest.mark.parametrize("channel_type", [WhatsAppCloudChannel, MessengerChannel, InstagramChannel])
def test_every_channel_verifies_the_raw_body(channel_type: Any) -> None:
    channel = make_channel(channel_type, SETTINGS)
    channel.verify(signed_request(b'{"object": "page", "entry": []}'))
    with pytest.raises(SignatureError):
        channel.verify(signed_request(b'{"object": "page", "entry": []}', app_secret="other"))


def test_non_ascii_text_is_signed_as_meta_escapes_it() -> None:
    """Meta signs the escaped body it sends (`\\u00e9`), not the decoded text."""
    body = fixture("wa_non_ascii")
    assert b"\\u00e9" in body
    assert b"\\ud83d\\udce6" in body  # an emoji, as a surrogate pair
    assert b"https:\\/\\/" in body  # and slashes escaped too
    channel = make_channel(WhatsAppCloudChannel, SETTINGS)
    req = signed_request(body)
    channel.verify(req)
    [interaction] = channel.parse(req)
    assert interaction.content is not None
    assert interaction.content.text == "¿Dónde está mi pedido? äöå 📦 https://shop.example/o/123"
    # The same JSON re-serialised (decoded UTF-8, unescaped slashes) is other bytes: a signature
    # computed after decoding would never match what Meta sent.
    reencoded = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert hub_signature(APP_SECRET, reencoded) != req.headers["X-Hub-Signature-256"]
    with pytest.raises(SignatureError):
        verify_signature(
            [APP_SECRET.encode()],
            {"X-Hub-Signature-256": req.headers["X-Hub-Signature-256"]},
            reencoded,
        )


@pytest.mark.parametrize(
    ("variant", "header"),
    [
        ("no sha256= prefix", lambda sig: sig.removeprefix("sha256=")),
        ("uppercase hex", lambda sig: "sha256=" + sig.removeprefix("sha256=").upper()),
        ("uppercase prefix", lambda sig: "SHA256=" + sig.removeprefix("sha256=")),
        ("legacy sha1 scheme", lambda sig: "sha1=" + sig.removeprefix("sha256=")[:40]),
        ("blank", lambda sig: ""),
        ("trailing space", lambda sig: sig + " "),
    ],
)
def test_header_variants_meta_never_sends_are_refused(variant: str, header: Any) -> None:
    """Meta documents `sha256=` and lowercase hex; anything else was not signed by Meta as is."""
    body = fixture("wa_text")
    offered = header(hub_signature(APP_SECRET, body))
    with pytest.raises(SignatureError) as caught:
        verify_signature([APP_SECRET.encode()], {"X-Hub-Signature-256": offered}, body)
    assert APP_SECRET not in str(caught.value)


def test_the_legacy_sha1_header_alone_is_not_enough() -> None:
    body = fixture("messenger_text")
    sha1 = "sha1=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="missing X-Hub-Signature-256"):
        verify_signature([APP_SECRET.encode()], {"X-Hub-Signature": sha1}, body)


def test_any_configured_app_secret_verifies() -> None:
    """A list of app secrets: the old and the new one while rotating, or two apps."""
    channel = make_channel(MessengerChannel, {**SETTINGS, "app_secret": ["old-secret", APP_SECRET]})
    body = fixture("messenger_text")
    channel.verify(signed_request(body))
    channel.verify(signed_request(body, app_secret="old-secret"))
    with pytest.raises(SignatureError):
        channel.verify(signed_request(body, app_secret="retired-secret"))


def test_a_wrong_signature_names_no_secret() -> None:
    channel = make_channel(WhatsAppCloudChannel, SETTINGS)
    with pytest.raises(SignatureError) as caught:
        channel.verify(signed_request(fixture("wa_text"), app_secret="guess"))
    assert APP_SECRET not in str(caught.value)
    assert "does not match" in str(caught.value)


def test_the_comparison_is_constant_time(compare_digest_calls: list[tuple[bytes, bytes]]) -> None:
    body = fixture("wa_text")
    make_channel(WhatsAppCloudChannel, SETTINGS).verify(signed_request(body))
    assert compare_digest_calls == [(hub_signature(APP_SECRET, body).encode(),) * 2]
