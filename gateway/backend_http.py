"""How an HTTP backend classifies a remote's answer: delivered, try again later, or never.

Shared by every backend that talks HTTP, so they all agree with the delivery semantics: 2xx is
delivered once the whole answer has arrived (a 2xx whose body is cut off by a reset is transient:
the remote may not have finished its work); 408, 425, 429 and 5xx are transient (honouring
`Retry-After`); a redirect is not followed and is permanent (the configured URL is out of date);
401 and 403 mean the backend's credentials were refused (`AuthenticationError`: the host keeps
the deliveries and re-checks the credentials); any other 4xx is permanent and carries the
remote's own error text to the dead-letter queue. The text kept never shows the request's own
credentials (its `Authorization` header and the like): remotes sometimes echo them back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from gateway.errors import AuthenticationError, PermanentDeliveryError, TransientDeliveryError
from gateway.redaction import Redactor, request_secrets

__all__ = [
    "AUTHENTICATION_STATUSES",
    "MAX_ANSWER_BYTES",
    "TRANSIENT_STATUSES",
    "parse_retry_after",
    "raise_for_delivery_status",
    "read_answer",
]

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Client-error statuses that mean "later", not "never" (every 5xx is transient too)."""
AUTHENTICATION_STATUSES = frozenset({401, 403})
"""Statuses that refuse the credentials, not the delivery: `AuthenticationError`."""
BODY_EXCERPT = 500
"""Characters of the remote's error body kept in a failure reason."""
MAX_ANSWER_BYTES = 1 << 20
"""Bytes of a 2xx body kept for the backend; the rest is read to its end and dropped."""
_READ_CHUNK = 64 * 1024


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Return a `Retry-After` value (seconds or an HTTP-date) as seconds from aware `now`."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def raise_for_delivery_status(
    response: aiohttp.ClientResponse, *, secrets: Iterable[str] = ()
) -> bytes:
    """Return the whole body of a 2xx; raise `TransientDeliveryError`, `PermanentDeliveryError`
    or, for 401 and 403, `AuthenticationError`.

    A 2xx counts only once its body has arrived to the end its framing promises
    (`Content-Length`, the last chunk): a body cut off raises `TransientDeliveryError`. The
    first `MAX_ANSWER_BYTES` are returned (read the answer from here, not from `response`).
    Error texts carry `[redacted]` where the remote echoed the request's credentials (its
    `Authorization` header, Basic's parts, API-key headers and query parameters) or `secrets`,
    the backend's credentials that travel otherwise (a signing key, an OAuth client secret).
    """
    status = response.status
    if 200 <= status < 300:
        return await _whole_answer(response)
    info = response.request_info
    redact = Redactor(request_secrets(info.headers, info.url) | set(secrets))
    if 300 <= status < 400:
        location = _excerpt(redact(response.headers.get("Location", ""))) or "(no Location header)"
        raise PermanentDeliveryError(
            f"HTTP {status}: redirect to {location} not followed; "
            "update the backend's URL to the final address"
        )
    reason = f"HTTP {status}: {_excerpt(redact(await _body_text(response)))}"
    if status in AUTHENTICATION_STATUSES:
        raise AuthenticationError(f"{reason} (the remote refused the backend's credentials)")
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        raise TransientDeliveryError(reason, retry_after=retry_after)
    raise PermanentDeliveryError(reason)


async def read_answer(response: aiohttp.ClientResponse) -> bytes:
    """Read a body to its end and return its first `MAX_ANSWER_BYTES`; a body cut off raises
    aiohttp's error (or `TimeoutError`)."""
    kept = bytearray()
    while chunk := await response.content.read(_READ_CHUNK):
        kept += chunk[: MAX_ANSWER_BYTES - len(kept)]
    return bytes(kept)


async def _whole_answer(response: aiohttp.ClientResponse) -> bytes:
    """Read a 2xx body to its end, keeping its start; a body cut off is a transient failure."""
    try:
        return await read_answer(response)
    except TimeoutError:  # before ClientError: aiohttp's timeouts are both; callers classify it
        raise
    except aiohttp.ClientError as exc:
        raise TransientDeliveryError(
            f"HTTP {response.status}: answer cut off before its end ({type(exc).__name__}: "
            f"{exc}); the remote may not have finished, so the delivery goes again"
        ) from exc


async def _body_text(response: aiohttp.ClientResponse) -> str:
    """Return the start of the body; a body that cannot be read counts as empty."""
    limit = BODY_EXCERPT * 4  # bytes enough for BODY_EXCERPT characters of UTF-8
    body = bytearray()
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):  # the status still classifies
        while len(body) < limit and (chunk := await response.content.read(limit - len(body))):
            body += chunk
    return body.decode("utf-8", errors="replace")


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 1] + "…"
