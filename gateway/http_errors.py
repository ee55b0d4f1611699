"""JSON error answers: `{"error": {"code": ..., "message": ...}}`, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web

__all__ = ["error_response"]


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Return an error response in the gateway's JSON shape."""
    return web.Response(
        status=status,
        body=orjson.dumps({"error": {"code": code, "message": message}}),
        content_type="application/json",
        headers=headers,
    )
