"""`X-Twilio-Signature`: how Twilio signs its webhooks, and how the gateway checks them.

Twilio signs the URL it called followed, for a form-encoded body, by every parameter name in
sorted order, each followed by its values (sorted, each distinct value once), with no
separators: base64(HMAC-SHA1(auth token, string)). A JSON body is not signed as parameters: the
URL carries `bodySHA256=<hex SHA-256 of the raw body>`, and the signature covers the URL alone.
Twilio's own back end is inconsistent about default ports, so a URL is accepted with and without
`:443`/`:80`, as the official SDKs do. Requests signed with a SharedKey name their algorithm
(HMAC_SHA1 or HMAC_SHA256) in `X-Twilio-Webhooks-Signature-Settings`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import parse_qs, urlsplit

from gateway.errors import SignatureError

__all__ = [
    "SETTINGS_HEADER",
    "SIGNATURE_HEADER",
    "check_body_hash",
    "check_signature",
    "compute_signature",
    "signature_algorithm",
    "signed_urls",
]

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
_DIGESTS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_DEFAULT_PORTS = {"https": 443, "http": 80}


def _bytes(text: str) -> bytes:
    # surrogatepass: a header or URL decoded with escapes must fail the comparison, not crash it.
    return text.encode("utf-8", "surrogatepass")


def compute_signature(
    token: str,
    url: str,
    params: Mapping[str, Sequence[str]] | None = None,
    algorithm: str = "HMAC_SHA1",
) -> str:
    """Return the `X-Twilio-Signature` Twilio sends for `url` and form `params`."""
    parts = [url]
    pairs = params or {}
    for name in sorted(pairs):
        parts.extend(name + value for value in sorted(set(pairs[name])))
    digest = hmac.new(_bytes(token), _bytes("".join(parts)), _DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_urls(url: str) -> list[str]:
    """Return the forms of `url` Twilio may have signed: as called, without and with its port."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if port:
        without = parts._replace(netloc=parts.netloc.rpartition(":")[0]).geturl()
        with_port = parts.geturl()
    else:
        default = _DEFAULT_PORTS.get(parts.scheme, 80)
        without = parts.geturl()
        with_port = parts._replace(netloc=f"{parts.netloc}:{default}").geturl()
    return list(dict.fromkeys((url, without, with_port)))


def signature_algorithm(settings_header: str | None) -> str:
    """Return the algorithm `X-Twilio-Webhooks-Signature-Settings` names (default HMAC_SHA1)."""
    for part in (settings_header or "").split(","):
        name, equals, value = part.partition("=")
        if equals and name.strip() == "algorithm" and value.strip():
            algorithm = value.strip().upper()
            if algorithm not in _DIGESTS:
                raise SignatureError(
                    f"{SETTINGS_HEADER} names an unsupported algorithm; "
                    f"supported: {', '.join(_DIGESTS)}"
                )
            return algorithm
    return "HMAC_SHA1"


def check_body_hash(url: str, body: bytes) -> None:
    """Raise `SignatureError` unless `url`'s `bodySHA256` is the SHA-256 of the raw `body`."""
    offered = parse_qs(urlsplit(url).query).get("bodySHA256")
    if not offered:
        raise SignatureError("a JSON webhook must carry bodySHA256 in its URL's query")
    expected = hashlib.sha256(body).hexdigest()
    if not hmac.compare_digest(_bytes(offered[0].strip().lower()), expected.encode("ascii")):
        raise SignatureError("bodySHA256 does not match the body")


def check_signature(
    tokens: Sequence[str],
    url: str,
    params: Mapping[str, Sequence[str]] | None,
    signature: str,
    algorithm: str = "HMAC_SHA1",
) -> None:
    """Raise `SignatureError` unless one of `tokens` signed `url` and `params` as `signature`."""
    offered = _bytes(signature)
    for token in tokens:
        for candidate in signed_urls(url):
            computed = compute_signature(token, candidate, params, algorithm)
            if hmac.compare_digest(computed.encode("ascii"), offered):
                return
    raise SignatureError(
        f"{SIGNATURE_HEADER} does not match a request to {url}: check auth_token, and that "
        "this is the URL Twilio calls (set public_url; behind a proxy, server.trust_proxy with "
        "the proxy's address in server.trusted_proxies)"
    )
