"""Zendesk's Support API as the backend uses it: authenticated, every answer classified.

One method, `call`, sends a request and returns the parsed JSON of a 2xx (or of a 404 the
caller expects). Everything else raises what tells the host what to do: `AuthenticationError`
for 401 and 403, `TransientDeliveryError` for 429 (with Zendesk's `Retry-After`), 409 (Zendesk's
answer to concurrent writes on one record), 5xx, 408, 425, timeouts and broken connections, and
`PermanentDeliveryError` with Zendesk's own `error` / `description` / `details` for any other
4xx (422 `RecordInvalid` above all). The API token never appears in a message: Zendesk (or a
proxy) echoing it, or the Basic credentials that carry it, is redacted.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.errors import AuthenticationError, PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import parse_retry_after

__all__ = ["Answer", "ZendeskClient", "error_message"]

_MAX_MESSAGE = 500
_TRANSIENT = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx (or an expected 404): its status and parsed JSON body (None when empty)."""

    status: int
    body: Any

    def record(self, key: str) -> Mapping[str, Any]:
        """Return the object under `key` (`user`, `ticket`, ...), or an empty mapping."""
        value = self.body.get(key) if isinstance(self.body, Mapping) else None
        return value if isinstance(value, Mapping) else {}


def error_message(body: Any, fallback: str) -> str:
    """Return Zendesk's error text: `error: description (field: detail; ...)`.

    Zendesk answers `{"error": "RecordInvalid", "description": "Record validation errors",
    "details": {"value": [{"description": "...", "error": "..."}]}}`, or just
    `{"error": "Couldn't authenticate you"}`, or `{"error": {"title": ..., "message": ...}}`.
    """
    if not isinstance(body, Mapping):
        return fallback
    error: Any = body.get("error")
    description: Any = body.get("description")
    if isinstance(error, Mapping):
        error, description = error.get("title"), error.get("message") or description
    parts = [str(p) for p in (error, description) if isinstance(p, str) and p]
    details = body.get("details")
    found: list[str] = []
    if isinstance(details, Mapping):
        for field, problems in details.items():
            for problem in problems if isinstance(problems, list) else [problems]:
                text = problem.get("description") if isinstance(problem, Mapping) else problem
                if isinstance(text, str) and text:
                    found.append(text if field == "base" else f"{field}: {text}")
    text = ": ".join(parts) or fallback
    return f"{text} ({'; '.join(found)})" if found else text


class ZendeskClient:
    """Sends requests to one Zendesk account as one agent (e-mail + API token)."""

    def __init__(
        self, http: aiohttp.ClientSession, root: str, email: str, token: str, timeout_s: float
    ) -> None:
        self._http = http
        self._root = root.rstrip("/")
        self._timeout_s = timeout_s
        credentials = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self._authorization = f"Basic {credentials}"
        self._secrets = tuple(s for s in (token, credentials) if s)

    @property
    def root(self) -> str:
        """The API root requests go to."""
        return self._root

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Answer:
        """Send one request; return its 2xx answer (or 404 if `missing_ok`), else raise."""
        sent = {"Authorization": self._authorization, "Accept": "application/json"}
        sent.update(headers or {})
        data = None
        if json is not None:
            data = orjson.dumps(json)
            sent["Content-Type"] = "application/json"
        where = f"{method} {path}"
        try:
            async with self._http.request(
                method,
                self._root + path,
                data=data,
                params=params,
                headers=sent,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            ) as response:
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:  # before ClientError: aiohttp's timeouts are both
            raise TransientDeliveryError(
                f"{where}: no answer from Zendesk within {self._timeout_s:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientDeliveryError(
                self.redact(f"{where}: {type(exc).__name__}: {exc}")
            ) from None
        body = None
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.loads(raw) if raw else None
        if 200 <= status < 300 or (status == 404 and missing_ok):
            return Answer(status, body)
        text = " ".join(raw[: _MAX_MESSAGE * 4].decode("utf-8", errors="replace").split())
        reason = self.redact(
            f"{where}: Zendesk {status} {error_message(body, text or '(no body)')}"
        )
        reason = reason[:_MAX_MESSAGE]
        if status in (401, 403):
            raise AuthenticationError(
                f"{reason} (check `email` and `api_token`; the user must be an agent or admin)"
            )
        if status in _TRANSIENT or status >= 500:
            wait = parse_retry_after(retry_after, datetime.now(UTC))
            raise TransientDeliveryError(reason, retry_after=wait)
        raise PermanentDeliveryError(reason)

    def redact(self, text: str) -> str:
        """Return `text` without the token or the Basic credentials (an echo may carry them)."""
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text
