"""The Standard Webhooks signature scheme (https://www.standardwebhooks.com/).

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is HMAC-SHA256
with the secret's key, base64-encoded, sent as `v1,<signature>`. The `webhook-signature` header
may carry several space-separated signatures (one per secret during a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, SecretStr

from gateway.errors import SignatureError

__all__ = [
    "MAX_ID_LENGTH",
    "SECRET_PREFIX",
    "TOLERANCE_S",
    "WebhookSecret",
    "decode_secret",
    "decode_secrets",
    "is_message_id",
    "sign",
    "signature_headers",
    "verify",
]

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
"""Largest accepted distance between `webhook-timestamp` and now: 5 minutes, either way."""
MAX_ID_LENGTH = 512
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
"""ASCII digits only (`str.isdigit` takes `²`), and few: `int()` of 5,000 digits raises."""
_MESSAGE_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")


def decode_secret(secret: str) -> bytes:
    """Return the HMAC key of a `whsec_<base64>` (or bare base64) secret."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ValueError("must be 'whsec_' followed by base64") from None
    if len(key) < 16:
        raise ValueError("must hold a key of at least 16 bytes (24 base64 characters)")
    return key


def decode_secrets(secrets: Sequence[SecretStr]) -> tuple[bytes, ...]:
    """Return the HMAC keys of the configured (non-empty) secrets."""
    return tuple(
        decode_secret(secret.get_secret_value()) for secret in secrets if secret.get_secret_value()
    )


def _check_secret(secret: SecretStr) -> SecretStr:
    if secret.get_secret_value():
        decode_secret(secret.get_secret_value())
    return secret


WebhookSecret = Annotated[SecretStr, AfterValidator(_check_secret)]
"""A `whsec_...` secret in configuration: validated, never printed."""


def _signed_content(msg_id: str, timestamp: int, body: bytes) -> bytes:
    return b"%s.%d.%s" % (msg_id.encode(), timestamp, body)


def _signature(key: bytes, content: bytes) -> bytes:
    """Return the base64 HMAC-SHA256 of `content` (OpenSSL's one-shot HMAC: by name, the digest
    costs less to find than through `hashlib.sha256`)."""
    return base64.b64encode(hmac.digest(key, content, "sha256"))


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the `v1,<base64>` signature of one message."""
    return "v1," + _signature(key, _signed_content(msg_id, timestamp, body)).decode()


def signature_headers(
    keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the three Standard Webhooks headers, signed with every key in `keys`."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(key, msg_id, timestamp, body) for key in keys),
    }


def is_message_id(value: str) -> bool:
    """Return whether `value` is a usable `webhook-id`: 1 to 512 printable ASCII characters."""
    return _MESSAGE_ID.fullmatch(value) is not None


def _header(headers: Mapping[str, str], name: str) -> str:
    """Return header `name`, bytes that are not UTF-8 replaced (the server keeps them escaped)."""
    value = headers.get(name, "")
    if value.isascii():  # no escaped byte in it: the common case, without two copies
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def verify(keys: Sequence[bytes], headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Raise `SignatureError` unless one signature in `headers` matches one of `keys`."""
    msg_id = _header(headers, "webhook-id")
    timestamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    if not msg_id:
        raise SignatureError("missing webhook-id header")
    if not timestamp:
        raise SignatureError("missing webhook-timestamp header")
    if not signatures:
        raise SignatureError("missing webhook-signature header")
    if not is_message_id(msg_id):
        raise SignatureError(f"webhook-id is not 1 to {MAX_ID_LENGTH} printable ASCII characters")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureError("webhook-timestamp is not a Unix time in seconds")
    sent = int(timestamp)
    if abs(now.timestamp() - sent) > TOLERANCE_S:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from now")
    offered = signatures.split()
    content = _signed_content(msg_id, sent, body)
    for key in keys:
        expected = b"v1," + _signature(key, content)
        for candidate in offered:
            if hmac.compare_digest(expected, candidate.encode()):
                return
    raise SignatureError("no webhook-signature matches the configured secret")
