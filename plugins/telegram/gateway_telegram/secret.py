"""`X-Telegram-Bot-Api-Secret-Token`: the shared secret Telegram sends with every update.

Telegram signs nothing: the header carries the `secret_token` given to `setWebhook`, as is. It is
compared in constant time with every configured token (several while one is rotated).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from gateway.errors import SignatureError

__all__ = ["SECRET_HEADER", "verify_secret_token"]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def verify_secret_token(tokens: Sequence[bytes], headers: Mapping[str, str]) -> None:
    """Raise `SignatureError` unless `headers` carry one of `tokens`."""
    offered = headers.get(SECRET_HEADER)
    if not offered:
        raise SignatureError(f"missing {SECRET_HEADER} header")
    if not tokens:
        raise SignatureError("no secret_token is configured to check the header with")
    offered_bytes = offered.encode("utf-8", "replace")
    # Every token is compared, so the time taken does not tell which one (or whether one) matched.
    matched = [hmac.compare_digest(offered_bytes, token) for token in tokens]
    if not any(matched):
        raise SignatureError(f"{SECRET_HEADER} is not the secret_token given to setWebhook")
