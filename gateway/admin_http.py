"""What every admin view shares: JSON answers, query and id parsing, the bad-request error."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from aiohttp import web

from gateway.store.base import Store

__all__ = [
    "MAX_ID",
    "MAX_LIMIT",
    "BadRequestError",
    "Handler",
    "check_query",
    "int_cursor",
    "int_id",
    "interaction_cursor",
    "json_response",
    "page_limit",
    "takes",
]

MAX_LIMIT = 1000
"""The largest page an admin list returns."""
MAX_ID = 2**63 - 1
"""The largest integer id or cursor: SQLite's INTEGER range."""
_DIGITS = re.compile(r"[0-9]{1,19}")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_QUERY_PARAMS: dict[Callable[..., object], tuple[str, ...]] = {}


class BadRequestError(Exception):
    """A request the admin API cannot act on; answered 400 with `code` and this message."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


def json_response(payload: Any, status: int = 200) -> web.Response:
    """Return `payload` as a JSON response."""
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _integer(text: str) -> int | None:
    """Return `text` as an integer from 0 to `MAX_ID` (ASCII digits only), else None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def int_id(request: web.Request, what: str) -> int:
    """Return the integer `{id}` of the path; raise `BadRequestError` naming `what` if not one."""
    value = _integer(request.match_info["id"])
    if value is None:
        raise BadRequestError(f"{what} ids are integers from 0 to {MAX_ID}")
    return value


def takes(*params: str) -> Callable[[Handler], Handler]:
    """Declare the query parameters an admin view takes; `check_query` refuses any other."""

    def declare(handler: Handler) -> Handler:
        _QUERY_PARAMS[handler] = params
        return handler

    return declare


def check_query(request: web.Request) -> None:
    """Raise `BadRequestError` naming the first query parameter the matched view does not take."""
    if request.match_info.http_exception is not None:
        return  # no view matched: the 404 or 405 says so
    allowed = _QUERY_PARAMS.get(request.match_info.handler, ())
    for name in request.query:
        if name not in allowed:
            known = ", ".join(allowed) if allowed else "no query parameters"
            raise BadRequestError(f"unknown query parameter '{name}'; this route takes {known}")


def page_limit(query: Mapping[str, str]) -> int:
    """Return the `limit` query parameter (default 100); raise `BadRequestError` if out of range."""
    limit = _integer(query.get("limit", "100"))
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise BadRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def int_cursor(query: Mapping[str, str]) -> int | None:
    """Return the integer `cursor` query parameter, or None; raise `BadRequestError` if not one."""
    if "cursor" not in query:
        return None
    cursor = _integer(query["cursor"])
    if cursor is None:
        raise BadRequestError(
            f"cursor must be an integer from 0 to {MAX_ID}: a next_cursor of this list",
            "bad_cursor",
        )
    return cursor


async def interaction_cursor(query: Mapping[str, str], store: Store) -> str | None:
    """Return the interaction id `cursor` query parameter, or None; raise `BadRequestError`
    unless it names a stored interaction (an unknown one must not restart the list)."""
    cursor = query.get("cursor")
    if cursor is not None and await store.get_interaction(cursor) is None:
        raise BadRequestError(
            "cursor names no stored interaction: pass a next_cursor of this list", "bad_cursor"
        )
    return cursor
