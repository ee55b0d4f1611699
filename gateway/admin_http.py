"""What every admin view shares: JSON answers, paging parameters, the bad-request error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

__all__ = ["MAX_LIMIT", "BadRequestError", "int_cursor", "json_response", "page_limit"]

MAX_LIMIT = 1000
"""The largest page an admin list returns."""


class BadRequestError(Exception):
    """A request the admin API cannot act on; answered `400 bad_request` with this message."""


def json_response(payload: Any, status: int = 200) -> web.Response:
    """Return `payload` as a JSON response."""
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def page_limit(query: Mapping[str, str]) -> int:
    """Return the `limit` query parameter (default 100); raise `BadRequestError` if out of range."""
    try:
        limit = int(query.get("limit", "100"))
    except ValueError:
        raise BadRequestError("limit must be an integer") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequestError(f"limit must be from 1 to {MAX_LIMIT}")
    return limit


def int_cursor(query: Mapping[str, str]) -> int | None:
    """Return the integer `cursor` query parameter, or None; raise `BadRequestError` if not one."""
    if "cursor" not in query:
        return None
    try:
        return int(query["cursor"])
    except ValueError:
        raise BadRequestError("cursor must be an integer") from None
