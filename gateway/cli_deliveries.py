"""`gateway dlq list|show|replay` and `gateway backfill`: work on the store directly.

They need no running gateway; a running one picks up replayed and backfilled deliveries within
a second.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import UTC, datetime
from typing import Any

from gateway.channel import utc_now
from gateway.cli_config import add_config_option, with_store
from gateway.cli_progress import Progress
from gateway.config import GatewayConfig
from gateway.documents import delivery_document, interaction_document
from gateway.pipeline import order_key
from gateway.plugins import Plugins
from gateway.routing import Router
from gateway.runtime import SENDER_PREFIX
from gateway.schema import Interaction
from gateway.store.base import Store, UnreadableInteraction

__all__ = ["add_delivery_commands"]

_CHUNK = 500
"""Dead letters listed, and replayed, per store call: progress is shown between chunks."""


def add_delivery_commands(verbs: Any) -> None:
    """Add the `dlq` and `backfill` commands to the `gateway` parser's subcommands."""
    dlq = verbs.add_parser("dlq", help="list, show and replay dead-lettered deliveries")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--backend", help="only this backend's")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", type=int, help="start after this delivery id")
    listing.set_defaults(run=_list)
    show = actions.add_parser("show", help="show a delivery, its interaction and attempts")
    show.add_argument("id", type=int)
    show.set_defaults(run=_show)
    replay = actions.add_parser("replay", help="make dead letters pending again")
    replay.add_argument("ids", nargs="*", type=int, help="delivery ids")
    replay.add_argument("--backend", help="every dead letter of this backend")
    replay.add_argument("--all", action="store_true", help="every dead letter")
    replay.set_defaults(run=_replay)
    backfill = verbs.add_parser(
        "backfill", help="queue stored interactions for a backend, as routing sends them"
    )
    backfill.add_argument("backend")
    backfill.add_argument(
        "--since", required=True, type=_moment, help="a date (2026-01-01) or an RFC 3339 time"
    )
    backfill.set_defaults(run=_backfill)
    for command in (listing, show, replay, backfill):
        add_config_option(command)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _known_backend(config: GatewayConfig, name: str | None, *, senders: bool = True) -> bool:
    """A configured backend, or (with `senders`) a channel's sender, `channel:{channel_id}`."""
    if name is None or name in config.backends:
        return True
    sender = name.startswith(SENDER_PREFIX) and name.removeprefix(SENDER_PREFIX) in config.channels
    if sender and senders:
        return True
    close = difflib.get_close_matches(name, list(config.backends), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    print(f"no backend '{name}' is configured{hint}", file=sys.stderr)
    return False


def _list(args: argparse.Namespace, plugins: Plugins) -> int:
    async def work(store: Store, config: GatewayConfig) -> int:
        if not _known_backend(config, args.backend):
            return 1
        dead = await store.list_deliveries(
            state="dead", backend=args.backend, limit=args.limit, after_id=args.cursor
        )
        print(f"{'ID':>8}  {'BACKEND':<16} {'ATTEMPTS':>8}  {'INTERACTION':<26}  LAST ERROR")
        for d in dead:
            error = (d.last_error or "").replace("\n", " ")[:80]
            print(f"{d.id:>8}  {d.backend:<16} {d.attempts:>8}  {d.interaction_id:<26}  {error}")
        if len(dead) == args.limit:
            print(f"more: --cursor {dead[-1].id}")
        return 0

    return with_store(args, plugins, work)


def _show(args: argparse.Namespace, plugins: Plugins) -> int:
    async def work(store: Store, config: GatewayConfig) -> int:
        delivery = await store.get_delivery(args.id)
        if delivery is None:
            print(f"no delivery {args.id}", file=sys.stderr)
            return 1
        document = await interaction_document(store, delivery.interaction_id)
        attempts = [
            d["attempt_log"] for d in (document or {}).get("deliveries", []) if d["id"] == args.id
        ]
        shown = {
            "delivery": delivery_document(delivery),
            "attempt_log": attempts[0] if attempts else [],
            "interaction": (document or {}).get("interaction"),
        }
        print(json.dumps(shown, indent=2, default=str))
        return 0

    return with_store(args, plugins, work)


def _replay(args: argparse.Namespace, plugins: Plugins) -> int:
    if bool(args.ids) + bool(args.backend) + args.all != 1:
        print("name delivery ids, or --backend NAME, or --all", file=sys.stderr)
        return 2

    async def work(store: Store, config: GatewayConfig) -> int:
        if not _known_backend(config, args.backend):
            return 1
        ids = args.ids or await _dead_letter_ids(store, args.backend)
        replayed = 0
        with Progress("dlq replay", "dead letters", total=len(ids)) as progress:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                replayed += await store.replay(
                    now=utc_now(), delivery_ids=chunk, backend=args.backend
                )
                progress.advance(len(chunk))
        print(f"replayed {replayed} dead letters")
        return 0

    return with_store(args, plugins, work)


async def _dead_letter_ids(store: Store, backend: str | None) -> list[int]:
    """Return the ids of every dead letter (of `backend`), so a replay can count its progress.

    Without a backend, sends (`channel:...`) are left out: only naming them resends them."""
    ids: list[int] = []
    after: int | None = None
    while page := await store.list_deliveries(
        state="dead", backend=backend, limit=_CHUNK, after_id=after
    ):
        after = page[-1].id
        ids += [
            d.id for d in page if backend is not None or not d.backend.startswith(SENDER_PREFIX)
        ]
    return ids


def _backfill(args: argparse.Namespace, plugins: Plugins) -> int:
    async def work(store: Store, config: GatewayConfig) -> int:
        if not _known_backend(config, args.backend, senders=False):  # never re-send history
            return 1
        router = Router(config.routes, list(config.backends))
        label = f"backfill {args.backend}"
        skipped = 0
        with Progress(label, "interactions examined") as progress:

            def plan(interaction: Interaction) -> tuple[bool, str | None]:
                progress.advance()
                return args.backend in router.backends_for(interaction), order_key(interaction)

            def skip(row: UnreadableInteraction) -> None:
                nonlocal skipped
                progress.advance()
                skipped += 1

            queued = await store.backfill(
                args.backend, since=args.since, now=utc_now(), plan=plan, unreadable=skip
            )
        print(f"queued {queued} interactions for {args.backend}")
        if skipped:
            print(
                f"skipped {skipped} stored interactions that no longer validate: nothing"
                " can route them (the warnings above name them; docs/operations.md, 'Rows that"
                " no longer validate', says how to fix or erase them)",
                file=sys.stderr,
            )
        return 0

    return with_store(args, plugins, work)
