"""The admin API's request guard: Host, Origin, the bearer token and JSON bodies.

Without a token the API trusts the machine, so a browser on it must not be turned against it:
a foreign `Host` (DNS rebinding) and a foreign `Origin` (CSRF) are refused, and a request that
changes anything must carry JSON, which no cross-origin form or simple request can send.
"""

from __future__ import annotations

import hmac
import re

from aiohttp import web

from gateway.config import is_loopback
from gateway.http_errors import error_response

__all__ = ["forbidden", "offered_token"]

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SIMPLE_MEDIA = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
"""What a cross-origin form or `fetch` may send without a CORS preflight."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_AUTHORITY = re.compile(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]/@\s]+)(?::([0-9]{1,5}))?")
_ORIGIN = re.compile(r"(https?)://(.+)", re.IGNORECASE)


def _authority(text: str) -> tuple[str, int | None] | None:
    """Return the lower-cased host and the port of `host[:port]`, or None if malformed."""
    match = _AUTHORITY.fullmatch(text)
    if match is None:
        return None
    port = match[2]
    return match[1].strip("[]").lower(), int(port) if port else None


def _same_origin(origin: str, host: tuple[str, int | None]) -> bool:
    """Return True if the `Origin` header names the scheme-default or explicit port of `host`."""
    match = _ORIGIN.fullmatch(origin)
    found = _authority(match[2]) if match else None
    if match is None or found is None:
        return False
    default = _DEFAULT_PORTS[match[1].lower()]
    return (found[0], found[1] or default) == (host[0], host[1] or default)


def offered_token(request: web.Request) -> bytes:
    """Return the credentials of `Authorization: Bearer ...` (any case), or b"" if none."""
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return b""
    try:  # aiohttp keeps bytes that are not UTF-8 as lone surrogates: turn them back into bytes
        return credentials.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b""


def forbidden(request: web.Request, expected_token: bytes) -> web.Response | None:
    """Return the error answer for a request the guard refuses, or None to serve it.

    Without a token `Host` must be a loopback address or `localhost`; with one any `Host`
    passes (a page in a browser cannot present the token). An `Origin`, if sent, must be the
    `Host`'s. `POST`, `PUT`, `PATCH` and `DELETE` carry no body or a JSON one, and never
    a form's media type.
    """
    host = _authority(request.headers.get("Host", ""))
    if host is None or not (expected_token or is_loopback(host[0])):
        return error_response(
            403, "forbidden_host", "the Host header must name a loopback address or localhost"
        )
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin, host):
        return error_response(403, "forbidden_origin", "cross-origin requests are refused")
    if expected_token and not hmac.compare_digest(offered_token(request), expected_token):
        return error_response(
            401,
            "unauthorized",
            "send Authorization: Bearer <admin token>",
            {"WWW-Authenticate": 'Bearer realm="gateway-admin"'},
        )
    media = request.content_type  # application/octet-stream when not sent
    formlike = request.body_exists or media in _SIMPLE_MEDIA
    if request.method in _UNSAFE and formlike and media != "application/json":
        return error_response(
            415, "unsupported_media_type", "send no body or one with Content-Type: application/json"
        )
    return None
