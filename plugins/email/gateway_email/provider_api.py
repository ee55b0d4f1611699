"""What the e-mail send APIs share: the request, and refusals classified the host's way.

`post_to_api` makes the send request of a transport (`{base_url or the API root}{path}`, its
credentials scrubbed from every reason). Each transport reads its provider's own error codes
first (Postmark's `ErrorCode`, ...); what none of them names falls back to `by_status`: 401 and
403 refuse the credentials (`AuthenticationError`: the sender pauses, nothing is dead-lettered),
408, 429 and 5xx are `Retry` (with the provider's `Retry-After`), any other status is
`Rejected` with its text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from gateway.errors import AuthenticationError
from gateway.plugin import ProviderAnswer, Rejected, Retry, send_to_provider
from gateway_email.send_settings import EmailSendSettings

__all__ = ["by_status", "post_to_api"]

_LATER = frozenset({408, 429})


async def post_to_api(
    http: aiohttp.ClientSession,
    send: EmailSendSettings,
    root: str,
    path: str,
    *,
    provider: str,
    headers: Mapping[str, str],
    secrets: list[str],
    json: Any = None,
    form: Mapping[str, str] | None = None,
) -> ProviderAnswer | Retry | Rejected:
    """POST a send to `path` under `send.base_url`, else under the API's `root`."""
    url = str(send.base_url or root).rstrip("/") + path
    return await send_to_provider(
        http, url, send, provider=provider, headers=headers, json=json, form=form, secrets=secrets
    )


def by_status(provider: str, answer: ProviderAnswer, detail: str) -> Retry | Rejected:
    """Return the outcome of `answer`'s status; `detail` is the provider's own error text."""
    reason = f"{provider} {answer.status}" + (f": {detail}" if detail else "")
    if answer.status in (401, 403):
        raise AuthenticationError(f"{provider} refused the credentials ({reason})"[:500])
    if answer.status in _LATER or answer.status >= 500:
        return Retry(reason[:500], after_s=answer.retry_after)
    return Rejected(reason[:500])
