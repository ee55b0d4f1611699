"""One send request to a provider's API, for a channel's sender (DESIGN §12).

Every sender makes the same request and needs the same three answers from it: the provider's
answer (its status, its JSON body, its `Retry-After` hint); `Retry` when the connection was never
made, so nothing was written; and, when the request may have been written without an answer (a
timeout, a dropped connection), the sender's unknown outcome: parked with `outcome_unknown`
unless `send.on_unknown_outcome: resend`, since a provider without an idempotency key may have
the message already. Classifying the answer stays the sender's: every provider words its errors
its own way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.backend import Rejected, Retry, SenderSettings
from gateway.backend_http import parse_retry_after, read_answer
from gateway.redaction import Redactor

__all__ = ["ProviderAnswer", "send_to_provider"]


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """A provider's answer to a send: the HTTP status, the body parsed as JSON (None if it is not
    JSON) and the `Retry-After` hint in seconds, if any."""

    status: int
    body: Any
    retry_after: float | None = None

    def field(self, name: str) -> Any:
        """Return `name` of a JSON object body, or None (no object, no such field)."""
        return self.body.get(name) if isinstance(self.body, dict) else None


async def send_to_provider(
    http: aiohttp.ClientSession,
    url: str,
    settings: SenderSettings,
    *,
    provider: str,
    headers: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    json: Any = None,
    secrets: Iterable[str] = (),
) -> ProviderAnswer | Retry | Rejected:
    """POST a send request (`form`-encoded or `json`) to `url` within `settings.timeout`, without
    following redirects; return the provider's answer, or the outcome when there is none.

    `provider` names the provider in failure reasons; `secrets` are scrubbed from them (a token
    that travels in the URL, which aiohttp's errors quote).
    """
    sent_headers = dict(headers or {})
    body: Any = form
    if json is not None:
        body = orjson.dumps(json)
        sent_headers.setdefault("Content-Type", "application/json")
    timeout = aiohttp.ClientTimeout(total=settings.timeout.total_seconds())
    redact = Redactor(secrets)
    try:
        async with http.post(
            url, data=body, headers=sent_headers, timeout=timeout, allow_redirects=False
        ) as response:
            raw = await read_answer(response)
            hint = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
            return ProviderAnswer(response.status, _json(raw), hint)
    except aiohttp.ClientConnectorError as exc:  # never connected: nothing was written
        return Retry(redact(f"cannot connect to {provider}: {exc.os_error or exc}"))
    except (TimeoutError, aiohttp.ClientError) as exc:
        detail = redact(f"{type(exc).__name__}: {exc}")
        return settings.unknown_outcome(f"{detail}; {provider} may or may not have the message")


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
