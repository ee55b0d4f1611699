"""Mailgun's webhook signature, and the replay cache its scheme needs.

Mailgun posts `timestamp` (Unix seconds), `token` (50 random characters) and `signature` =
hex(HMAC-SHA256(signing key, timestamp + token)) as form fields. The signature does not cover
the body, so a captured triple could sign another message: each token is remembered with a
digest of the fields and files it came with (not of the bytes: a resent multipart body may have
another boundary), and the same token with another message is refused as a replay. The same
token with the same message is Mailgun resending a message it got no 2xx for (it resends the
original signature), which the gateway's dedupe then stores once.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from threading import Lock

from gateway.errors import SignatureError

__all__ = ["FUTURE_SKEW", "ReplayCache", "check_signature", "compute_signature"]

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of the gateway's clock a `timestamp` may be (clock skew)."""
_TIMESTAMP_DIGITS = 12


def compute_signature(key: str, timestamp: str, token: str) -> str:
    """Return the `signature` Mailgun sends for `timestamp` and `token`."""
    message = (timestamp + token).encode("utf-8", "surrogatepass")
    return hmac.new(key.encode("utf-8", "surrogatepass"), message, hashlib.sha256).hexdigest()


def check_signature(
    keys: Sequence[str],
    timestamp: str | None,
    token: str | None,
    signature: str | None,
    *,
    now: datetime,
    max_age: timedelta,
) -> datetime:
    """Raise `SignatureError` unless one of `keys` signed `timestamp + token` as `signature`
    and `timestamp` is fresh; return when it was signed."""
    if not (timestamp and token and signature):
        raise SignatureError("missing Mailgun signature fields timestamp, token and signature")
    stamp = timestamp.strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _TIMESTAMP_DIGITS):
        raise SignatureError("timestamp is not Unix seconds")
    offered = signature.strip().lower().encode("utf-8", "surrogatepass")
    if not any(
        hmac.compare_digest(compute_signature(key, stamp, token).encode("ascii"), offered)
        for key in keys
    ):
        raise SignatureError("signature does not match: check signing_key")
    try:
        signed = datetime.fromtimestamp(int(stamp), now.tzinfo)
    except (OverflowError, ValueError, OSError):
        raise SignatureError("timestamp is out of range", status=406) from None
    if signed - now > FUTURE_SKEW:
        raise SignatureError("timestamp is in the future: check the gateway's clock", status=406)
    if now - signed > max_age:
        raise SignatureError(f"timestamp is older than max_age ({max_age})", status=406)
    return signed


class ReplayCache:
    """Recently seen tokens and the digest of the body each came with (bounded, with a TTL)."""

    def __init__(self, size: int, ttl: timedelta) -> None:
        self._size = size
        self._ttl = ttl
        self._seen: OrderedDict[str, tuple[datetime, bytes]] = OrderedDict()
        self._lock = Lock()

    def check(self, token: str, digest: bytes, signed: datetime, now: datetime) -> None:
        """Remember `token` with the `digest` of its message; raise `SignatureError` (406) if it
        came with another message before."""
        with self._lock:
            while self._seen:  # tokens arrive roughly in signing order: expire from the front
                oldest, (stamp, _) = next(iter(self._seen.items()))
                if now - stamp <= self._ttl:
                    break
                del self._seen[oldest]
            seen = self._seen.get(token)
            if seen is None:
                if len(self._seen) >= self._size:
                    self._seen.popitem(last=False)
                self._seen[token] = (signed, digest)
                return
        if not hmac.compare_digest(seen[1], digest):
            raise SignatureError("token was already used with another body: a replay", status=406)
