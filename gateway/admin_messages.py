"""The admin API's outbound messages (DESIGN §12): send a reply, follow it."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from gateway.admin_http import BadRequestError, json_response, page_limit, takes
from gateway.documents import message_document
from gateway.http_errors import error_response
from gateway.ingest import GATEWAY
from gateway.outbound import MessageRequest, RefusedError, queue_message
from gateway.schema import MAX_ID
from gateway.store.base import MESSAGE_STATES

__all__ = ["IDEMPOTENCY_KEY", "add_message_routes"]

IDEMPOTENCY_KEY = "Idempotency-Key"


def add_message_routes(app: web.Application) -> None:
    """Serve the outbound-message views from the admin app."""
    app.router.add_post("/admin/messages", send_message)
    app.router.add_get("/admin/messages", list_messages)
    app.router.add_get("/admin/messages/{id}", show_message)


async def send_message(request: web.Request) -> web.Response:
    """Queue an outbound message: 202 the first time, 200 with the same message on a repeat."""
    key = request.headers.get(IDEMPOTENCY_KEY, "").strip()
    if not key or len(key) > MAX_ID:
        raise BadRequestError(
            f"send an {IDEMPOTENCY_KEY} header (1 to {MAX_ID} characters, e.g. a UUID): the same"
            " key again returns the same message and never sends twice",
            "idempotency_key_required",
        )
    try:
        body: Any = orjson.loads(await request.read())
        message_request = MessageRequest.model_validate(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return error_response(422, "invalid_body", f"{where}: {first['msg']}")
    try:
        queued = await queue_message(request.app[GATEWAY], key, message_request)
    except RefusedError as exc:
        return error_response(exc.status, exc.code, str(exc))
    document = {"message": message_document(queued.message)}
    return json_response(document, status=202 if queued.created else 200)


async def show_message(request: web.Request) -> web.Response:
    """Return one outbound message."""
    message_id = request.match_info["id"]
    message = await request.app[GATEWAY].store.get_message(message_id)
    if message is None:
        return error_response(404, "not_found", f"no message {message_id}")
    return json_response({"message": message_document(message)})


@takes("state", "customer_id", "limit", "cursor")
async def list_messages(request: web.Request) -> web.Response:
    """List outbound messages, oldest first, filtered by `state` and `customer_id`."""
    query = request.query
    state = query.get("state")
    if state is not None and state not in MESSAGE_STATES:
        raise BadRequestError(f"state must be one of {', '.join(MESSAGE_STATES)}")
    limit = page_limit(query)
    messages = await request.app[GATEWAY].store.list_messages(
        state=state,
        customer_id=query.get("customer_id"),
        limit=limit,
        after=query.get("cursor"),
    )
    next_cursor = messages[-1].id if len(messages) == limit else None
    return json_response(
        {"messages": [message_document(m) for m in messages], "next_cursor": next_cursor}
    )
