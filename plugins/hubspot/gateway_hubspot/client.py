"""HubSpot's HTTP API as the backend uses it: authenticated, paced, every answer classified.

One method, `call`, sends a request and returns the parsed JSON of a 2xx (or of a 404 the
caller expects). Everything else raises what tells the host what to do: `AuthenticationError`
for 401 and 403 (a missing scope named), `ThrottledError` for 429 (not before HubSpot's next
window), `TransientDeliveryError` for 5xx, 408, 425, timeouts and broken connections,
`ConflictError` for 409 and `PermanentDeliveryError` with HubSpot's own message for any other 4xx.
The token never appears in a message: HubSpot (or a proxy) echoing it back is redacted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.errors import AuthenticationError, PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import parse_retry_after
from gateway_hubspot.limiter import RateLimiter, ThrottledError

__all__ = ["Answer", "ConflictError", "HubSpotClient", "error_message"]

TEN_SECONDS = 10.0
"""HubSpot's rate-limit window when its headers do not say."""
DAILY_PROBE_S = 3600.0
"""After a 429 for the daily limit, how long nothing is sent (then one batch tries again)."""
_MAX_MESSAGE = 500
_TRANSIENT = frozenset({408, 425})


class ConflictError(PermanentDeliveryError):
    """HubSpot answered 409: a unique value (an e-mail address, a gateway id) is taken."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx (or an expected 404): its status and parsed JSON body (None when empty)."""

    status: int
    body: Any


def error_message(body: Any, fallback: str) -> str:
    """Return HubSpot's error text from an error body: `CATEGORY: message`."""
    if not isinstance(body, Mapping):
        return fallback
    message = body.get("message")
    category = body.get("category")
    text = str(message) if message else fallback
    return f"{category}: {text}" if isinstance(category, str) and category else text


class HubSpotClient:
    """Sends requests to one HubSpot account with its token, under its rate limit."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        root: str,
        token: str,
        timeout_s: float,
        limiter: RateLimiter,
    ) -> None:
        self._http = http
        self._root = root.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._limiter = limiter

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Answer:
        """Send one request; return its 2xx answer (or 404 if `missing_ok`), else raise."""
        await self._limiter.acquire(self._timeout_s)
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data = None
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        try:
            async with self._http.request(
                method,
                self._root + path,
                data=data,
                params=params,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
            ) as response:
                self._follow_limits(response.headers)
                raw = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
                interval = _interval_s(response.headers)
        except TimeoutError:  # before ClientError: aiohttp's timeouts are both
            raise TransientDeliveryError(
                f"{method} {path}: no answer from HubSpot within {self._timeout_s:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientDeliveryError(
                self.redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            ) from None
        body = _json(raw)
        if 200 <= status < 300 or (status == 404 and missing_ok):
            return Answer(status, body)
        reason = self.redact(
            f"{method} {path}: HubSpot {status} {error_message(body, _text(raw))}"
        )[:_MAX_MESSAGE]
        if status in (401, 403):
            raise AuthenticationError(_scope_hint(reason, body))
        if status == 429:
            wait = parse_retry_after(retry_after, datetime.now(UTC))
            wait = interval if wait is None else wait
            if isinstance(body, Mapping) and body.get("policyName") == "DAILY":
                wait = max(wait, DAILY_PROBE_S)  # the daily limit resets at midnight, portal time
            self._limiter.close_for(wait)
            raise ThrottledError(reason, retry_after=wait)
        if status >= 500 or status in _TRANSIENT:
            raise TransientDeliveryError(
                reason, retry_after=parse_retry_after(retry_after, datetime.now(UTC))
            )
        if status == 409:
            raise ConflictError(reason)
        raise PermanentDeliveryError(reason)

    def redact(self, text: str) -> str:
        """Return `text` without the token (an error body or proxy may echo it back)."""
        return text.replace(self._token, "[token]") if self._token else text

    def _follow_limits(self, headers: Mapping[str, str]) -> None:
        self._limiter.adopt(
            _int(headers.get("X-HubSpot-RateLimit-Max")),
            _int(headers.get("X-HubSpot-RateLimit-Remaining")),
            _interval_s(headers)
            if "X-HubSpot-RateLimit-Interval-Milliseconds" in headers
            else None,
        )


def _scope_hint(reason: str, body: Any) -> str:
    """Name the scopes HubSpot says are missing (403 `MISSING_SCOPES`), if it says."""
    scopes: list[str] = []
    if isinstance(body, Mapping):
        for error in body.get("errors") or ():
            context = error.get("context") if isinstance(error, Mapping) else None
            if isinstance(context, Mapping):
                for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
                    scopes += [str(s) for s in context.get(key) or () if isinstance(s, str)]
    hint = (
        f"; grant the private app the scope(s) {', '.join(sorted(set(scopes)))}" if scopes else ""
    )
    return f"{reason}{hint}"


def _interval_s(headers: Mapping[str, str]) -> float:
    milliseconds = _int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
    return milliseconds / 1000 if milliseconds and milliseconds > 0 else TEN_SECONDS


def _int(value: str | None) -> int | None:
    with contextlib.suppress(TypeError, ValueError):
        return int(value)  # type: ignore[arg-type]
    return None


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _text(raw: bytes) -> str:
    return (
        " ".join(raw[: _MAX_MESSAGE * 4].decode("utf-8", errors="replace").split()) or "(no body)"
    )
