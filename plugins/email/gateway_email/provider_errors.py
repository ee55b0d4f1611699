"""What the e-mail send APIs' refusals share: the provider's status classified the host's way.

Each transport reads its provider's own error codes first (Postmark's `ErrorCode`, ...); what
none of them names falls back to the status: 401 and 403 refuse the credentials
(`AuthenticationError`: the sender pauses, nothing is dead-lettered), 408, 429 and 5xx are
`Retry` (with the provider's `Retry-After`), any other status is `Rejected` with its text.
"""

from __future__ import annotations

from gateway.errors import AuthenticationError
from gateway.plugin import ProviderAnswer, Rejected, Retry

__all__ = ["by_status"]

_LATER = frozenset({408, 429})


def by_status(provider: str, answer: ProviderAnswer, detail: str) -> Retry | Rejected:
    """Return the outcome of `answer`'s status; `detail` is the provider's own error text."""
    reason = f"{provider} {answer.status}" + (f": {detail}" if detail else "")
    if answer.status in (401, 403):
        raise AuthenticationError(f"{provider} refused the credentials ({reason})"[:500])
    if answer.status in _LATER or answer.status >= 500:
        return Retry(reason[:500], after_s=answer.retry_after)
    return Rejected(reason[:500])
