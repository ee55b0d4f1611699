"""`gateway customers ...`: profiles, links, unmerges, erasure and merge proposals.

They work on the store directly, with no running gateway, and print what the admin API answers.
Backends that erase or merge customers hear of it from the running gateway, which follows the
store's merge log and erasure requests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, get_args

import orjson

from gateway.channel import utc_now
from gateway.cli_config import add_config_option, with_store
from gateway.config import GatewayConfig
from gateway.documents import (
    customer_document,
    erasure_document,
    link_document,
    proposal_document,
    proposals_page,
    timeline_page,
    unmerge_document,
)
from gateway.identity import parse_identity
from gateway.plugins import Plugins
from gateway.schema import Identity
from gateway.store.base import ConflictError, ProposalState, Store

__all__ = ["add_customer_commands"]

Command = Callable[[argparse.Namespace, Store, GatewayConfig], Awaitable[int]]


def add_customer_commands(verbs: Any) -> None:
    """Add the `customers` command to the `gateway` parser's subcommands."""
    customers = verbs.add_parser(
        "customers", help="show, link, unmerge and erase customers; decide merge proposals"
    )
    actions = customers.add_subparsers(dest="action", required=True, metavar="ACTION")

    show = actions.add_parser("show", help="show a customer (or the erasures of an erased one)")
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="customer id (cus_...)")
    which.add_argument("--identity", metavar="KIND:VALUE", help="the customer holding it")
    _register(show, _show)

    link = actions.add_parser("link", help="attach an identity; merge in the customer holding it")
    link.add_argument("id")
    link.add_argument("identity", metavar="KIND:VALUE")
    _register(link, _link)

    unmerge = actions.add_parser("unmerge", help="undo a customer's merge into its survivor")
    unmerge.add_argument("id")
    _register(unmerge, _unmerge)

    erase = actions.add_parser("erase", help="delete a customer and ask backends to erase it")
    erase.add_argument("id")
    _register(erase, _erase)

    timeline = actions.add_parser("timeline", help="a customer's interactions and deliveries")
    timeline.add_argument("id")
    timeline.add_argument("--limit", type=_positive, default=100)
    timeline.add_argument("--cursor", metavar="INTERACTION_ID", help="start after it")
    _register(timeline, _timeline)

    proposals = actions.add_parser("proposals", help="list merge proposals, oldest first")
    proposals.add_argument("--state", choices=[*get_args(ProposalState), "all"], default="pending")
    proposals.add_argument("--limit", type=_positive, default=100)
    proposals.add_argument("--cursor", type=int, metavar="PROPOSAL_ID", help="start after it")
    _register(proposals, _proposals)

    for verb, accept in (("accept", True), ("reject", False)):
        decide = actions.add_parser(verb, help=f"{verb} a pending merge proposal")
        decide.add_argument("proposal", type=int, metavar="N")
        _register(decide, partial(_decide, accept=accept))


def _register(command: argparse.ArgumentParser, work: Command) -> None:
    add_config_option(command)

    async def refusing_conflicts(
        args: argparse.Namespace, store: Store, config: GatewayConfig
    ) -> int:
        try:
            return await work(args, store, config)
        except ConflictError as exc:  # the store's state forbids it: say why, exit 1
            return _fail(str(exc))

    def run(args: argparse.Namespace, plugins: Plugins) -> int:
        return with_store(args, plugins, partial(refusing_conflicts, args))

    command.set_defaults(run=run)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def _print(document: Any) -> int:
    print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    return 0


def _fail(message: str, status: int = 1) -> int:
    print(message, file=sys.stderr)
    return status


def _identity(text: str, config: GatewayConfig) -> Identity | None:
    try:
        return parse_identity(text, config.identity.default_region)
    except ValueError as exc:
        print(f"identity: {exc}", file=sys.stderr)
        return None


async def _show(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    if args.identity is not None:
        identity = _identity(args.identity, config)
        if identity is None:
            return 2
        customer = await store.find_customer(identity)
        if customer is None:
            return _fail(f"no customer has {identity.kind}:{identity.value}")
        return _print(customer_document(customer))
    customer = await store.get_customer(args.id)
    if customer is not None:
        return _print(customer_document(customer))
    erasures = await store.erasures_of(args.id)
    if not erasures:
        return _fail(f"no customer {args.id}")
    return _print({"erasures": [erasure_document(e) for e in erasures]})


async def _link(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    identity = _identity(args.identity, config)
    if identity is None:
        return 2
    result = await store.link_identity(args.id, identity, now=utc_now())
    if result is None:
        return _fail(f"no customer {args.id}")
    return _print(await link_document(store, result))


async def _unmerge(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    entry = await store.unmerge(args.id, now=utc_now())
    if entry is None:
        return _fail(f"no customer {args.id}")
    return _print(await unmerge_document(store, entry))


async def _erase(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    erasure = await store.erase_customer(args.id, now=utc_now())
    if erasure is None:
        return _fail(f"no customer {args.id}")
    _print({"erasure": erasure_document(erasure)})
    print(
        "erased from the store; the running gateway asks each backend that erases customers,"
        f" and `gateway customers show {erasure.customer_id}` shows their receipts",
        file=sys.stderr,
    )
    return 0


async def _timeline(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    if await store.get_customer(args.id) is None:
        return _fail(f"no customer {args.id}")
    entries = await store.timeline(args.id, limit=args.limit, after=args.cursor)
    return _print(timeline_page(entries, args.limit))


async def _proposals(args: argparse.Namespace, store: Store, config: GatewayConfig) -> int:
    proposals = await store.list_proposals(
        state=None if args.state == "all" else args.state, limit=args.limit, after_id=args.cursor
    )
    return _print(proposals_page(proposals, args.limit))


async def _decide(
    args: argparse.Namespace, store: Store, config: GatewayConfig, *, accept: bool
) -> int:
    proposal = await store.decide_proposal(args.proposal, accept=accept, now=utc_now())
    if proposal is None:
        return _fail(f"no merge proposal {args.proposal}")
    return _print({"proposal": proposal_document(proposal)})
