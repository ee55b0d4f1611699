"""Reading a webhook body within its limits, cheaply, and refusing it the moment it breaks one.

Everything here runs before the signature is checked, so its cost must not depend on what an
unauthenticated sender chooses beyond the limits: bodies are read up to `limit + 1` bytes only,
forms are counted before they are parsed, and on shutdown a body still arriving is answered 503
rather than waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl

from aiohttp import StreamReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

__all__ = ["ARRIVAL_GRACE_S", "MAX_FORM_FIELDS", "BodyError", "BodyReader", "parse_form"]

ARRIVAL_GRACE_S = 1.0
"""How long shutdown lets bodies already arriving finish before answering them 503: a body whose
last bytes cross the signal is served, and the connection is not closed under unread bytes (which
would reset it and lose the answer)."""

MAX_FORM_FIELDS = 1000
"""The most fields a form-encoded webhook may have (Twilio's carry a few dozen)."""


class BodyError(Exception):
    """A body refused while it was read: the outcome label, HTTP status and reason."""

    def __init__(self, outcome: str, status: int, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.message = message


class _ShuttingDownError(Exception):
    """Set on a body still arriving when the gateway starts to shut down."""


def too_large(limit: int) -> BodyError:
    """Return the refusal of a body over `limit` bytes."""
    return BodyError("body_too_large", 413, f"body is over the {limit}-byte limit")


class BodyReader:
    """Reads request bodies and knows which are still arriving, to answer them on shutdown."""

    def __init__(self) -> None:
        self._arriving: set[StreamReader] = set()
        self._none_arriving = asyncio.Event()
        self._none_arriving.set()
        self.refusing = False

    async def read(self, content: StreamReader, limit: int) -> bytes:
        """Return the whole body of `content`, or raise `BodyError` once it passes `limit`."""
        if content.is_eof():  # it all came with the headers, as most webhooks do
            try:
                whole = content.read_nowait()
            except _READ_ERRORS as exc:
                raise _unreadable(exc) from None
            if len(whole) > limit:
                raise too_large(limit)
            return whole
        if self.refusing:
            raise _shutting_down()
        self._arriving.add(content)
        self._none_arriving.clear()
        body = bytearray()
        try:
            while chunk := await content.readany():
                body += chunk
                if len(body) > limit:
                    raise too_large(limit)
        except _READ_ERRORS as exc:
            raise _unreadable(exc) from None
        finally:
            self._arriving.discard(content)
            if not self._arriving:
                self._none_arriving.set()
        return bytes(body)

    async def shut_down(self, grace_s: float = ARRIVAL_GRACE_S) -> None:
        """Give bodies arriving `grace_s` to finish, then answer them and every later body that
        has not fully arrived 503."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._none_arriving.wait(), grace_s)
        self.refusing = True
        for content in self._arriving:
            content.set_exception(_ShuttingDownError())


_READ_ERRORS = (_ShuttingDownError, ConnectionError, HttpProcessingError, web.RequestPayloadError)


def _unreadable(exc: BaseException) -> BodyError:
    """Return the `BodyError` a failure to read a body (one of `_READ_ERRORS`) means."""
    if isinstance(exc, _ShuttingDownError):
        return _shutting_down()
    if isinstance(exc, ConnectionError):
        return BodyError("client_disconnected", 400, "the client hung up mid-body")
    return BodyError("bad_payload", 400, "the body's framing is malformed")


def _shutting_down() -> BodyError:
    return BodyError("shutting_down", 503, "the gateway is shutting down; retry")


def parse_form(body: bytes) -> MultiDictProxy[str]:
    """Return the fields of a form-encoded `body`; too many fields is 413, bad encoding 400."""
    if body.count(b"&") >= MAX_FORM_FIELDS:
        raise BodyError("too_many_fields", 413, f"form has over {MAX_FORM_FIELDS} fields")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise BodyError("bad_payload", 400, "body is not valid form encoding") from None
    return MultiDictProxy(MultiDict(pairs))
