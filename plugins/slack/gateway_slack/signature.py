"""Slack's v0 request signature: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`.

The HMAC-SHA256 is keyed with the app's signing secret and covers the raw body bytes, exactly as
received, after `v0:` and the `X-Slack-Request-Timestamp` header. A timestamp more than five
minutes away from the gateway's clock is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from gateway.errors import SignatureError

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_S",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
TOLERANCE_S = 300
"""How far the request's timestamp may be from the gateway's clock, either way."""
_PREFIX = "v0="
_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits only, bounded: int() of "²" or 5,000 digits


def signature_header(signing_secret: str | bytes, timestamp: str, body: bytes) -> str:
    """Return the `X-Slack-Signature` Slack sends with `body` at `timestamp`: `v0=<hex>`."""
    key = signing_secret.encode() if isinstance(signing_secret, str) else signing_secret
    base = b"v0:" + timestamp.encode() + b":" + body
    return _PREFIX + hmac.new(key, base, hashlib.sha256).hexdigest()


def verify_signature(
    signing_secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes, now: datetime
) -> None:
    """Raise `SignatureError` unless `headers` sign `body` with one of `signing_secrets`, at a
    timestamp within `TOLERANCE_S` of `now`. Signatures are compared in constant time."""
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not _SECONDS.fullmatch(timestamp):
        raise SignatureError(f"{TIMESTAMP_HEADER} must be Unix seconds")
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE_S:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} is more than {TOLERANCE_S // 60} minutes from the gateway's "
            "clock: a replayed request, or a clock out of sync"
        )
    offered = headers.get(SIGNATURE_HEADER)
    if not offered:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not offered.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must be 'v0=' and the hex HMAC of the request")
    if not signing_secrets:
        raise SignatureError("no signing_secret is configured to verify the signature with")
    offered_bytes = offered.encode("utf-8", "replace")
    for secret in signing_secrets:
        if hmac.compare_digest(offered_bytes, signature_header(secret, timestamp, body).encode()):
            return
    raise SignatureError(
        f"{SIGNATURE_HEADER} does not match the request signed with the configured signing_secret"
    )
