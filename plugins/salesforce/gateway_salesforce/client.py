"""Salesforce's REST API as the backend uses it: a shared token, every answer classified.

The OAuth 2.0 client-credentials token is requested from `{root}/services/oauth2/token`, cached,
shared by every worker of the backend (one request at a time) and requested again once when
Salesforce answers 401 `INVALID_SESSION_ID` (the session expired or was revoked); a second 401,
or a token request Salesforce refuses (`invalid_client`, `invalid_grant`), raises
`AuthenticationError`. Other answers: 403 `REQUEST_LIMIT_EXCEEDED` is the org's API request limit
(a rolling 24-hour one), so nothing is sent for `LIMIT_PAUSE_S` and the deliveries wait
(`LimitError`); any other 403 is `AuthenticationError` (a permission the run-as user lacks);
300 (an external id that matches several records) and other 4xx are `PermanentDeliveryError`
with Salesforce's `errorCode: message`; 408, 425, 429, 5xx, timeouts and broken connections are
`TransientDeliveryError`. The consumer secret and the access token never appear in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from gateway.errors import AuthenticationError, PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import parse_retry_after

__all__ = ["LIMIT_PAUSE_S", "Answer", "LimitError", "SalesforceClient", "error_text"]

LIMIT_PAUSE_S = 3600.0
"""After `REQUEST_LIMIT_EXCEEDED` for the org's daily request limit, how long nothing is sent."""
CONCURRENCY_PAUSE_S = 60.0
"""After `REQUEST_LIMIT_EXCEEDED` for too many concurrent long-running requests."""
USAGE_WARNING = 0.9
"""Share of the org's daily API requests used (`Sforce-Limit-Info`) above which it is logged."""
_MAX_MESSAGE = 500
_TRANSIENT = frozenset({408, 425, 429})
_TOKEN_PATH = "/services/oauth2/token"


class LimitError(TransientDeliveryError):
    """The org's API request limit is used up; `sent` is False when nothing was sent."""

    def __init__(self, message: str, *, retry_after: float, sent: bool) -> None:
        super().__init__(message, retry_after=retry_after)
        self.sent = sent


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx (or an expected 404): its status and parsed JSON body (None when empty)."""

    status: int
    body: Any


def error_text(body: Any, fallback: str) -> str:
    """Return Salesforce's error text: `errorCode: message` of each error in the body."""
    errors = body if isinstance(body, list) else [body]
    texts = []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        code = error.get("errorCode") or error.get("statusCode") or error.get("error")
        message = error.get("message") or error.get("error_description")
        fields = error.get("fields")
        text = f"{code}: {message}" if code else str(message or "")
        if isinstance(fields, list) and fields:
            text += f" (fields: {', '.join(str(f) for f in fields)})"
        if text:
            texts.append(text)
    return "; ".join(texts) or fallback


@dataclass(frozen=True, slots=True)
class _Reply:
    """One answer as it arrived: status, raw body and headers."""

    status: int
    raw: bytes
    headers: Mapping[str, str]

    @property
    def body(self) -> Any:
        """The body parsed as JSON; None when empty or not JSON."""
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(self.raw) if self.raw else None
        return None

    def codes(self) -> set[str]:
        """Return the `errorCode`s of a Salesforce error body."""
        body = self.body
        errors = body if isinstance(body, list) else [body]
        return {str(e.get("errorCode")) for e in errors if isinstance(e, Mapping)}


class SalesforceClient:
    """Sends requests to one org's REST API with a shared client-credentials token."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        root: str,
        api_version: str,
        client_id: str,
        client_secret: str,
        timeout_s: float,
        logger: logging.Logger,
    ) -> None:
        self._http = http
        self._root = root.rstrip("/")
        self._data = f"/services/data/{api_version}"
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout_s = timeout_s
        self._logger = logger
        self._token: str | None = None
        self._token_lock = asyncio.Lock()
        self._closed_until = 0.0
        self.api_usage: tuple[int, int] | None = None
        """The org's API requests used and allowed in 24 hours, as Salesforce last said."""

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Answer:
        """Send one request to `/services/data/{version}{path}`; return its 2xx answer (or a
        404 if `missing_ok`), else raise what the answer means."""
        wait = self._closed_until - time.monotonic()
        if wait > 0:
            raise LimitError(
                f"{method} {path}: not sent: the org's API request limit is used up "
                f"(REQUEST_LIMIT_EXCEEDED); trying again in {wait:.0f}s",
                retry_after=wait,
                sent=False,
            )
        token = await self._current_token()
        reply = await self._api(method, path, token, json, params)
        if reply.status == 401 and "INVALID_SESSION_ID" in reply.codes():
            reply = await self._api(method, path, await self._renew_token(token), json, params)
        status = reply.status
        if 200 <= status < 300 or (status == 404 and missing_ok):
            return Answer(status, reply.body)
        reason = self._reason(f"{method} {path}", reply)
        if status == 401:
            raise AuthenticationError(
                f"{reason} (the access token was refused again after a new one was requested)"
            )
        if status == 403 and "REQUEST_LIMIT_EXCEEDED" in reply.codes():
            daily = "ConcurrentPerOrgLongTxn" not in reason
            pause = LIMIT_PAUSE_S if daily else CONCURRENCY_PAUSE_S
            self._closed_until = max(self._closed_until, time.monotonic() + pause)
            raise LimitError(reason, retry_after=pause, sent=True)
        if status == 403:
            raise AuthenticationError(
                f"{reason} (give the External Client App's run-as user the permissions "
                "listed in docs/backends/salesforce.md)"
            )
        if status >= 500 or status in _TRANSIENT:
            retry_after = parse_retry_after(reply.headers.get("Retry-After"), datetime.now(UTC))
            raise TransientDeliveryError(reason, retry_after=retry_after)
        if status == 300:
            raise PermanentDeliveryError(
                f"{reason} (several records share the external id: make the field Unique "
                "and remove the duplicates)"
            )
        raise PermanentDeliveryError(reason)

    def redact(self, text: str) -> str:
        """Return `text` without the consumer secret or the access token."""
        for secret, mask in ((self._client_secret, "[secret]"), (self._token, "[token]")):
            if secret:
                text = text.replace(secret, mask)
        return text

    async def _current_token(self) -> str:
        if self._token is not None:
            return self._token
        async with self._token_lock:
            if self._token is None:
                self._token = await self._request_token()
            return self._token

    async def _renew_token(self, refused: str) -> str:
        """Replace the token Salesforce refused, unless another worker already did."""
        async with self._token_lock:
            if self._token in (None, refused):
                self._token = None
                self._token = await self._request_token()
            assert self._token is not None
            return self._token

    async def _request_token(self) -> str:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        reply = await self._exchange("POST", _TOKEN_PATH, data=form)
        body = reply.body
        token = body.get("access_token") if isinstance(body, Mapping) else None
        if reply.status == 200 and isinstance(token, str) and token:
            return token
        reason = self._reason(f"POST {_TOKEN_PATH}", reply)
        if reply.status >= 500 or reply.status in _TRANSIENT or reply.status == 200:
            raise TransientDeliveryError(reason)
        raise AuthenticationError(
            f"{reason}: Salesforce refused the client credentials; check `client_id`, "
            "`client_secret` and that the External Client App enables the client credentials "
            "flow with a run-as user, on the My Domain URL in `instance_url`"
        )

    async def _api(
        self, method: str, path: str, token: str, json: Any, params: Mapping[str, str] | None
    ) -> _Reply:
        headers = {"Authorization": f"Bearer {token}"}
        if json is not None:
            headers["Content-Type"] = "application/json"
        data = None if json is None else orjson.dumps(json)
        reply = await self._exchange(
            method, self._data + path, data=data, params=params, headers=headers
        )
        self._follow_usage(reply.headers.get("Sforce-Limit-Info"))
        return reply

    async def _exchange(self, method: str, path: str, **request: Any) -> _Reply:
        """Send one request to `{root}{path}`; a timeout or a broken connection is transient."""
        request["headers"] = {"Accept": "application/json", **request.get("headers", {})}
        try:
            async with self._http.request(
                method,
                self._root + path,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                **request,
            ) as response:
                return _Reply(response.status, await response.read(), response.headers)
        except TimeoutError:  # before ClientError: aiohttp's timeouts are both
            raise TransientDeliveryError(
                f"{method} {path}: no answer from Salesforce within {self._timeout_s:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientDeliveryError(
                self.redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            ) from None

    def _reason(self, where: str, reply: _Reply) -> str:
        """Return Salesforce's refusal as a message: where, the status, its error text."""
        excerpt = " ".join(reply.raw[: _MAX_MESSAGE * 4].decode("utf-8", "replace").split())
        text = error_text(reply.body, excerpt or "(no body)")
        return self.redact(f"{where}: Salesforce {reply.status} {text}")[:_MAX_MESSAGE]

    def _follow_usage(self, header: str | None) -> None:
        """Keep `Sforce-Limit-Info: api-usage=USED/MAX`; log when most of it is used."""
        usage = _usage(header)
        if usage is None:
            return
        before, self.api_usage = self.api_usage, usage
        used, allowed = usage
        crossed = before is None or before[0] < allowed * USAGE_WARNING
        if allowed and used >= allowed * USAGE_WARNING and crossed:
            self._logger.warning(
                "Salesforce org has used %d of its %d API requests of the last 24 hours",
                used,
                allowed,
            )


def _usage(header: str | None) -> tuple[int, int] | None:
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        used, _, allowed = value.partition("/")
        if name == "api-usage" and used.isdigit() and allowed.isdigit():
            return int(used), int(allowed)
    return None
