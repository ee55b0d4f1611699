"""How an HTTP backend classifies a remote's answer: delivered, try again later, or never.

Shared by every backend that talks HTTP, so they all agree with the delivery semantics: 2xx is
delivered; 408, 425, 429 and 5xx are transient (honouring `Retry-After`); a redirect is not
followed and is permanent (the configured URL is out of date); any other 4xx is permanent and
carries the remote's own error text to the dead-letter queue.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from gateway.errors import PermanentDeliveryError, TransientDeliveryError

__all__ = ["TRANSIENT_STATUSES", "parse_retry_after", "raise_for_delivery_status"]

TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Client-error statuses that mean "later", not "never" (every 5xx is transient too)."""
BODY_EXCERPT = 500
"""Characters of the remote's error body kept in a failure reason."""


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


async def raise_for_delivery_status(response: aiohttp.ClientResponse) -> None:
    """Return on 2xx; raise `TransientDeliveryError` or `PermanentDeliveryError` otherwise."""
    status = response.status
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        location = _excerpt(response.headers.get("Location", "")) or "(no Location header)"
        raise PermanentDeliveryError(
            f"HTTP {status}: redirect to {location} not followed; "
            "update the backend's URL to the final address"
        )
    reason = f"HTTP {status}: {await _body_excerpt(response)}"
    if status in TRANSIENT_STATUSES or status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        raise TransientDeliveryError(reason, retry_after=retry_after)
    raise PermanentDeliveryError(reason)


async def _body_excerpt(response: aiohttp.ClientResponse) -> str:
    """Return the start of the body on one line; a body that cannot be read counts as empty."""
    limit = BODY_EXCERPT * 4  # bytes enough for BODY_EXCERPT characters of UTF-8
    body = bytearray()
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):  # the status still classifies
        while len(body) < limit and (chunk := await response.content.read(limit - len(body))):
            body += chunk
    return _excerpt(body.decode("utf-8", errors="replace"))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT else text[: BODY_EXCERPT - 1] + "…"
