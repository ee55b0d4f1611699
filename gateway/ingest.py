"""The webhook edge: handshake, verify, parse, pipeline, durable commit, acknowledge.

The order is the product's promise: nothing is answered 2xx before the commit returned, and a
request that is bad in any way gets a 4xx JSON error with nothing stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.bodies import BodyError, BodyReader, parse_form, too_large
from gateway.channel import Channel
from gateway.config import ServerSettings
from gateway.errors import PayloadError, SignatureError, StoreUnavailableError
from gateway.http_errors import error_response
from gateway.rejections import RejectionLog
from gateway.request import WebhookRequest, WebhookResponse
from gateway.runtime import Gateway

__all__ = ["GATEWAY", "channel_webhook", "handle_webhook", "install_edge"]

log = logging.getLogger("gateway.ingest")
GATEWAY = web.AppKey("gateway", Gateway)
BODIES = web.AppKey("bodies", BodyReader)
REJECTIONS = web.AppKey("rejections", RejectionLog)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_FORM = "application/x-www-form-urlencoded"
_QUIET = frozenset({"client_disconnected", "shutting_down", "store_unavailable"})
"""Outcomes that are not the sender's fault: logged elsewhere, or not worth a warning."""


def install_edge(app: web.Application) -> None:
    """Give `app` the webhook edge's state; on shutdown, bodies still arriving are answered 503."""
    app[BODIES] = BodyReader()
    app[REJECTIONS] = RejectionLog()

    async def shut_down(app: web.Application) -> None:
        await app[BODIES].shut_down()

    app.on_shutdown.append(shut_down)


class _RejectedError(Exception):
    """A request answered with an error: the outcome label, the response and the reason."""

    def __init__(self, outcome: str, response: web.Response, reason: str) -> None:
        self.outcome = outcome
        self.response = response
        self.reason = reason


def _reject(outcome: str, status: int, message: str, **headers: str) -> _RejectedError:
    response = error_response(status, outcome, message, headers or None)
    return _RejectedError(outcome, response, message)


def channel_webhook(channel_id: str) -> _Handler:
    """Return the handler of `/webhooks/{channel_id}` for one configured channel."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await _take(request, channel_id)

    return handle


async def handle_webhook(request: web.Request) -> web.StreamResponse:
    """Take one webhook for `/webhooks/{channel_id}`."""
    return await _take(request, request.match_info["channel_id"])


async def _take(request: web.Request, channel_id: str) -> web.StreamResponse:
    gateway = request.app[GATEWAY]
    channel = gateway.channels.get(channel_id)
    if channel is None:
        # Not a metric label: unknown ids are attacker-chosen.
        return error_response(404, "unknown_channel", f"no channel '{channel_id}' is configured")
    started = time.perf_counter()
    try:
        outcome, response = await _ingest(gateway, channel, request)
    except _RejectedError as rejected:
        outcome, response = rejected.outcome, rejected.response
        if outcome == "client_disconnected":
            log.debug(
                "channel %s: the client hung up before its body arrived",
                channel_id,
                extra={"channel": channel_id},
            )
        elif outcome not in _QUIET:
            request.app[REJECTIONS].rejected(channel_id, outcome, response.status, rejected.reason)
    except Exception:
        # A plugin bug, not bad input: the provider retries, the log has the traceback.
        log.exception("channel %s failed on a webhook", channel_id, extra={"channel": channel_id})
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
        if answer.status >= 400:  # e.g. a wrong verify token: the integrator needs to see why
            raise _RejectedError("handshake", _response(answer), _handshake_reason(answer))
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
        raise _reject("bad_signature", exc.status, str(exc)) from None
    except PayloadError as exc:
        raise _reject("bad_payload", exc.status, str(exc)) from None
    items = gateway.pipeline.prepare(interactions)
    try:
        results = await gateway.store.commit(items)
    except StoreUnavailableError as exc:
        log.error("channel %s: %s", channel_id, exc, extra={"channel": channel_id})
        raise _reject("store_unavailable", 503, "cannot store right now; retry later") from None
    for item, result in zip(items, results, strict=True):
        if not result.duplicate:
            gateway.delivery.notify(item.backends)
        if result.service is not None:
            gateway.metrics.service(result.service)
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
    """Read the request within the limits, cheapest refusals first, and freeze it."""
    server = gateway.config.server
    limit = _body_limit(server, channel)
    try:
        if request.content_length is not None and request.content_length > limit:
            raise too_large(limit)
        if request.body_exists and request.content_type not in channel.content_types:
            raise BodyError(
                "unsupported_media_type",
                415,
                f"Content-Type {request.content_type} is not accepted; "
                f"use {', '.join(sorted(channel.content_types))}",
            )
        body = await request.app[BODIES].read(request.content, limit)
        form = parse_form(body) if request.content_type == _FORM else None
    except BodyError as exc:
        raise _reject(exc.outcome, exc.status, exc.message) from None
    proxied = server.is_trusted_proxy(request.remote)
    return WebhookRequest(
        method=request.method,
        url=_provider_url(request, proxied=proxied),
        headers=request.headers,
        query=request.query,
        body=body,
        received_at=gateway.clock(),
        form=form,
        remote=_client_address(request, server) if proxied else request.remote,
    )


def _body_limit(server: ServerSettings, channel: Channel[Any]) -> int:
    """Return the largest body `channel` takes: its own limit, never over the server's."""
    own = channel.settings.max_body_bytes or channel.max_body_bytes
    return min(own, server.max_body_bytes) if own else server.max_body_bytes


def _provider_url(request: web.Request, *, proxied: bool) -> str:
    """Return the URL as the provider called it, which is what it signed."""
    scheme, host = request.scheme, request.host
    if proxied:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip() or host
    return f"{scheme}://{host}{request.raw_path}"


def _client_address(request: web.Request, server: ServerSettings) -> str | None:
    """Return the nearest X-Forwarded-For hop that is not itself a trusted proxy."""
    remote = request.remote
    hops = ",".join(request.headers.getall("X-Forwarded-For", ())).split(",")
    for hop in reversed([hop.strip() for hop in hops if hop.strip()]):
        if not server.is_trusted_proxy(remote):
            break
        remote = hop
    return remote


def _handshake_reason(answer: WebhookResponse) -> str:
    """Return why a channel refused a handshake: its JSON error's message, if it wrote one."""
    try:
        message = orjson.loads(answer.body)["error"]["message"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        message = None
    return f"handshake refused: {message}" if isinstance(message, str) else "handshake refused"


def _response(answer: WebhookResponse) -> web.Response:
    headers, content_type = answer.headers, answer.content_type or None
    if content_type and any(name.lower() == "content-type" for name in headers):
        # The channel's `content_type` wins over a Content-Type among its headers.
        response = web.Response(status=answer.status, body=answer.body, headers=headers)
        response.content_type = content_type
        return response
    return web.Response(
        status=answer.status, body=answer.body, headers=headers or None, content_type=content_type
    )
