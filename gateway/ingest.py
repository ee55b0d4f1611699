"""The webhook edge: handshake, verify, parse, pipeline, durable commit, acknowledge.

The order is the product's promise: nothing is answered 2xx before the commit returned, and a
request that is bad in any way gets a 4xx JSON error with nothing stored.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from gateway.channel import Channel
from gateway.errors import PayloadError, SignatureError, StoreUnavailableError
from gateway.http_errors import error_response
from gateway.request import WebhookRequest, WebhookResponse
from gateway.runtime import Gateway

__all__ = ["GATEWAY", "handle_webhook"]

log = logging.getLogger("gateway.ingest")
GATEWAY = web.AppKey("gateway", Gateway)
_FORM = "application/x-www-form-urlencoded"


class _RejectedError(Exception):
    """A request answered with an error: the outcome label and the response."""

    def __init__(self, outcome: str, response: web.Response) -> None:
        self.outcome = outcome
        self.response = response


def _reject(outcome: str, status: int, message: str, **headers: str) -> _RejectedError:
    return _RejectedError(outcome, error_response(status, outcome, message, headers or None))


async def handle_webhook(request: web.Request) -> web.StreamResponse:
    """Take one webhook for `/webhooks/{channel_id}`."""
    gateway = request.app[GATEWAY]
    channel_id = request.match_info["channel_id"]
    channel = gateway.channels.get(channel_id)
    if channel is None:
        # Not a metric label: unknown ids are attacker-chosen.
        return error_response(404, "unknown_channel", f"no channel '{channel_id}' is configured")
    started = time.perf_counter()
    try:
        outcome, response = await _ingest(gateway, channel, request)
    except _RejectedError as rejected:
        outcome, response = rejected.outcome, rejected.response
    except Exception:
        # A plugin bug, not bad input: the provider retries, the log has the traceback.
        log.exception("channel %s failed on a webhook", channel_id)
        outcome = "internal_error"
        response = error_response(500, outcome, "internal error; the gateway's log has details")
    metrics = gateway.metrics.channel(channel_id)
    metrics.request(outcome)
    metrics.latency.observe(time.perf_counter() - started)
    return response


async def _ingest(
    gateway: Gateway, channel: Channel[Any], request: web.Request
) -> tuple[str, web.Response]:
    if request.method not in ("POST", "GET"):
        raise _reject("method_not_allowed", 405, "use POST", Allow="GET, POST")
    req = await _snapshot(gateway, channel, request)
    if (answer := channel.handshake(req)) is not None:
        return "handshake", _response(answer)
    if req.method != "POST":
        raise _reject(
            "method_not_allowed", 405, "this channel takes webhooks by POST", Allow="POST"
        )
    channel_id = channel.ctx.channel_id
    try:
        if not channel.settings.insecure:
            channel.verify(req)
        interactions = channel.parse(req)
    except SignatureError as exc:
        gateway.metrics.channel(channel_id).signature_failures.inc()
        raise _reject("bad_signature", 401, str(exc)) from None
    except PayloadError as exc:
        raise _reject("bad_payload", exc.status, str(exc)) from None
    items = gateway.pipeline.prepare(interactions)
    try:
        results = await gateway.store.commit(items)
    except StoreUnavailableError as exc:
        log.error("channel %s: %s", channel_id, exc)
        raise _reject("store_unavailable", 503, "cannot store right now; retry later") from None
    for item, result in zip(items, results, strict=True):
        if not result.duplicate:
            gateway.delivery.notify(item.backends)
    duplicates = sum(result.duplicate for result in results)
    if duplicates:
        gateway.metrics.channel(channel_id).duplicates.inc(duplicates)
    if stored := len(results) - duplicates:
        gateway.metrics.channel(channel_id).stored.inc(stored)
    held = [
        result.interaction or item.interaction.model_copy(update={"id": result.interaction_id})
        for item, result in zip(items, results, strict=True)
    ]
    outcome = "stored" if stored else "duplicate" if duplicates else "ignored"
    return outcome, _response(channel.acknowledge(req, held))


async def _snapshot(
    gateway: Gateway, channel: Channel[Any], request: web.Request
) -> WebhookRequest:
    """Read the request within the limits and freeze it for the channel."""
    limit = gateway.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _reject("body_too_large", 413, f"body is over the {limit}-byte limit")
    if request.body_exists and request.content_type not in channel.content_types:
        raise _reject(
            "unsupported_media_type",
            415,
            f"Content-Type {request.content_type} is not accepted; "
            f"use {', '.join(sorted(channel.content_types))}",
        )
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _reject("body_too_large", 413, f"body is over the {limit}-byte limit") from None
    form = None
    if request.content_type == _FORM:
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise _reject("bad_payload", 400, "body is not valid form encoding") from None
        form = MultiDictProxy(MultiDict(pairs))
    return WebhookRequest(
        method=request.method,
        url=_provider_url(request, trust_proxy=gateway.config.server.trust_proxy),
        headers=request.headers,
        query=request.query,
        body=body,
        received_at=gateway.clock(),
        form=form,
        remote=request.remote,
    )


def _provider_url(request: web.Request, *, trust_proxy: bool) -> str:
    """Return the URL as the provider called it, which is what it signed."""
    scheme, host = request.scheme, request.host
    if trust_proxy:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
    return f"{scheme}://{host}{request.raw_path}"


def _response(answer: WebhookResponse) -> web.Response:
    response = web.Response(status=answer.status, body=answer.body, headers=answer.headers)
    if answer.content_type:
        response.content_type = answer.content_type
    return response
