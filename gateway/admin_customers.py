"""The admin API's customer views: profiles, timelines, links, unmerges, proposals, erasure."""

from __future__ import annotations

from typing import Any, get_args

import orjson
from aiohttp import web

from gateway.admin_http import (
    BadRequestError,
    int_cursor,
    int_id,
    interaction_cursor,
    json_response,
    page_limit,
    takes,
)
from gateway.documents import (
    customer_document,
    erasure_document,
    link_document,
    proposal_document,
    proposals_page,
    timeline_page,
    unmerge_document,
)
from gateway.http_errors import error_response
from gateway.identity import parse_identity
from gateway.ingest import GATEWAY
from gateway.runtime import Gateway
from gateway.schema import Identity
from gateway.store.base import ProposalState, Store

__all__ = ["add_customer_routes"]

_PROPOSAL_STATES: dict[str, ProposalState | None] = {
    **{state: state for state in get_args(ProposalState)},
    "all": None,
}
_LINK_BODY = 'send {"identity": "KIND:VALUE"} or {"kind": "KIND", "value": "VALUE"}'


def add_customer_routes(app: web.Application) -> None:
    """Serve the customer and merge-proposal views from the admin app."""
    app.router.add_get("/admin/customers", find_customers)
    app.router.add_get("/admin/customers/{id}", show_customer)
    app.router.add_delete("/admin/customers/{id}", erase_customer)
    app.router.add_get("/admin/customers/{id}/timeline", customer_timeline)
    app.router.add_post("/admin/customers/{id}/identities", link_identity)
    app.router.add_post("/admin/customers/{id}/unmerge", unmerge_customer)
    app.router.add_get("/admin/customers/{id}/erasures", list_erasures)
    app.router.add_get("/admin/merge-proposals", list_proposals)
    app.router.add_post("/admin/merge-proposals/{id}/accept", accept_proposal)
    app.router.add_post("/admin/merge-proposals/{id}/reject", reject_proposal)


def _identity(gateway: Gateway, text: str) -> Identity:
    try:
        return parse_identity(text, gateway.config.identity.default_region)
    except ValueError as exc:
        raise BadRequestError(f"identity: {exc}") from None


async def _unknown_customer(store: Store, customer_id: str) -> web.Response:
    """Answer 404 for a customer id, saying so if it was erased."""
    if await store.erasures_of(customer_id):
        message = f"customer {customer_id} was erased; see /admin/customers/{customer_id}/erasures"
    else:
        message = f"no customer {customer_id}"
    return error_response(404, "not_found", message)


@takes("identity")
async def find_customers(request: web.Request) -> web.Response:
    """Return the customer holding `identity=KIND:VALUE`, as a list of none or one."""
    gateway = request.app[GATEWAY]
    text = request.query.get("identity")
    if not text:
        raise BadRequestError("name the identity: ?identity=KIND:VALUE, e.g. phone:+14155550100")
    customer = await gateway.store.find_customer(_identity(gateway, _plus_restored(text)))
    return json_response({"customers": [customer_document(customer)] if customer else []})


async def show_customer(request: web.Request) -> web.Response:
    """Return a customer, merged ones included, with its identities, crosswalk and merges."""
    store, customer_id = request.app[GATEWAY].store, request.match_info["id"]
    customer = await store.get_customer(customer_id)
    if customer is None:
        return await _unknown_customer(store, customer_id)
    return json_response(customer_document(customer))


@takes("limit", "cursor")
async def customer_timeline(request: web.Request) -> web.Response:
    """Return a customer's interactions by occurrence time with their deliveries, paged."""
    store, customer_id = request.app[GATEWAY].store, request.match_info["id"]
    limit = page_limit(request.query)
    if await store.get_customer(customer_id) is None:
        return await _unknown_customer(store, customer_id)
    after = await interaction_cursor(request.query, store)
    entries = await store.timeline(customer_id, limit=limit, after=after)
    return json_response(timeline_page(entries, limit))


async def link_identity(request: web.Request) -> web.Response:
    """Attach an identity to a customer; merge in the customer that holds it, if any."""
    gateway, customer_id = request.app[GATEWAY], request.match_info["id"]
    identity = _identity(gateway, _identity_text(await request.read()))
    result = await gateway.store.link_identity(customer_id, identity, now=gateway.clock())
    if result is None:
        return await _unknown_customer(gateway.store, customer_id)
    return json_response(await link_document(gateway.store, result))


def _plus_restored(text: str) -> str:
    """Undo form decoding's `+` to space where no space can be meant: a phone's leading `+`
    (`?identity=phone:+44...`) and the `+` of an e-mail address; `%2B` needs no help."""
    kind, sep, value = text.partition(":")
    if kind.strip().lower() == "phone" and value.startswith(" "):
        value = "+" + value[1:]
    elif kind.strip().lower() == "email":
        value = value.strip().replace(" ", "+")
    return kind + sep + value


def _identity_text(body: bytes) -> str:
    """Return `KIND:VALUE` from a link request's JSON body."""
    try:
        payload: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequestError(f"the body is not JSON ({exc}); {_LINK_BODY}") from None
    if isinstance(payload, dict):
        if isinstance(payload.get("identity"), str):
            return str(payload["identity"])
        kind, value = payload.get("kind"), payload.get("value")
        if isinstance(kind, str) and isinstance(value, str):
            return f"{kind}:{value}"
    raise BadRequestError(_LINK_BODY)


async def unmerge_customer(request: web.Request) -> web.Response:
    """Undo a customer's merge into its survivor; return the log entry and both customers."""
    gateway, customer_id = request.app[GATEWAY], request.match_info["id"]
    entry = await gateway.store.unmerge(customer_id, now=gateway.clock())
    if entry is None:
        return await _unknown_customer(gateway.store, customer_id)
    return json_response(await unmerge_document(gateway.store, entry))


async def erase_customer(request: web.Request) -> web.Response:
    """Delete a customer's merge tree; the backends that erase are asked in the background."""
    gateway, customer_id = request.app[GATEWAY], request.match_info["id"]
    erasure = await gateway.store.erase_customer(customer_id, now=gateway.clock())
    if erasure is None:
        return await _unknown_customer(gateway.store, customer_id)
    return json_response({"erasure": erasure_document(erasure)}, status=202)


async def list_erasures(request: web.Request) -> web.Response:
    """Return the erasures of a customer id, with the receipts of the backends so far."""
    store, customer_id = request.app[GATEWAY].store, request.match_info["id"]
    erasures = await store.erasures_of(customer_id)
    if not erasures and await store.get_customer(customer_id) is None:
        return error_response(404, "not_found", f"no customer {customer_id} and no erasure of it")
    return json_response({"erasures": [erasure_document(e) for e in erasures]})


@takes("state", "limit", "cursor")
async def list_proposals(request: web.Request) -> web.Response:
    """List merge proposals of a `state` (default pending, or all), paged by id."""
    query = request.query
    state = query.get("state", "pending")
    if state not in _PROPOSAL_STATES:
        raise BadRequestError(f"state must be one of {', '.join(_PROPOSAL_STATES)}")
    limit, cursor = page_limit(query), int_cursor(query)
    proposals = await request.app[GATEWAY].store.list_proposals(
        state=_PROPOSAL_STATES[state],
        limit=limit,
        after_id=cursor,
    )
    return json_response(proposals_page(proposals, limit))


async def accept_proposal(request: web.Request) -> web.Response:
    """Accept a pending proposal: link its identity, merging its holder in."""
    return await _decide(request, accept=True)


async def reject_proposal(request: web.Request) -> web.Response:
    """Reject a pending proposal; the same link is never proposed again."""
    return await _decide(request, accept=False)


async def _decide(request: web.Request, *, accept: bool) -> web.Response:
    gateway, proposal_id = request.app[GATEWAY], int_id(request, "merge proposal")
    proposal = await gateway.store.decide_proposal(proposal_id, accept=accept, now=gateway.clock())
    if proposal is None:
        return error_response(404, "not_found", f"no merge proposal {proposal_id}")
    return json_response({"proposal": proposal_document(proposal)})
