"""`X-Hub-Signature-256`: Meta's HMAC-SHA256 of the raw body, keyed with the app secret.

Meta signs the body bytes exactly as it sends them, and it sends non-ASCII text escaped
(`\\u00e9`), so the signature only verifies over the received bytes: never over JSON decoded and
encoded again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from gateway.errors import SignatureError

__all__ = ["SIGNATURE_HEADER", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def signature_header(app_secret: str | bytes, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` value Meta sends with `body`: `sha256=<lowercase hex>`."""
    key = app_secret.encode() if isinstance(app_secret, str) else app_secret
    return _PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(app_secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes) -> None:
    """Raise `SignatureError` unless `headers` sign `body` with one of `app_secrets`.

    The header must be exactly as Meta documents it, `sha256=` and lowercase hex: a value in
    another form did not come from Meta (or was rewritten on the way), so it is refused.
    """
    offered = headers.get(SIGNATURE_HEADER)
    if not offered:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not offered.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must be 'sha256=' and the hex HMAC of the body")
    if not app_secrets:
        raise SignatureError("no app_secret is configured to verify the signature with")
    offered_bytes = offered.encode("utf-8", "replace")
    for secret in app_secrets:
        if hmac.compare_digest(offered_bytes, signature_header(secret, body).encode()):
            return
    raise SignatureError(
        f"{SIGNATURE_HEADER} does not match the body signed with the configured app_secret"
    )
