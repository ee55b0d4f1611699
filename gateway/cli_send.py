"""`gateway send`: queue a reply to a customer (DESIGN §12), as `POST /admin/messages` does.

It writes the outbound interaction and its send job to the store and exits; the running
gateway's delivery engine sends it (the sender lane `channel:{channel_id}` claims it).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any
from uuid import uuid4

import orjson
from pydantic import ValidationError

from gateway.cli_config import add_config_option, with_store
from gateway.config import GatewayConfig
from gateway.documents import message_document
from gateway.outbound import MessageRequest, RefusedError, queue_message
from gateway.plugins import Plugins
from gateway.store.base import Store

__all__ = ["add_send_command", "message_request"]


def add_send_command(verbs: Any) -> None:
    """Add the `send` command to the `gateway` parser's subcommands."""
    send = verbs.add_parser("send", help="queue a reply to a customer on one of their channels")
    to = send.add_mutually_exclusive_group(required=True)
    to.add_argument("--customer", metavar="CUSTOMER_ID", help="the customer (cus_...)")
    to.add_argument("--conversation", metavar="CONVERSATION_ID", help="a conversation (conv_...)")
    to.add_argument("--reply-to", metavar="INTERACTION_ID", help="the interaction it answers")
    send.add_argument("--text", help="the message text (required unless --template)")
    send.add_argument("--subject", help="the subject of an e-mail reply")
    send.add_argument("--channel", metavar="CHANNEL_ID", help="send on this channel")
    send.add_argument(
        "--template", metavar="NAME", help="a provider template (sent outside messaging windows)"
    )
    send.add_argument("--language", metavar="CODE", help="the template's language code")
    send.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="VALUE",
        help="a template parameter, in order (repeat the option)",
    )
    send.add_argument(
        "--tag", metavar="TAG", help="a message tag with its own window (e.g. HUMAN_AGENT)"
    )
    send.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="the same key again prints the same message and sends nothing (default: a new UUID)",
    )
    add_config_option(send)
    send.set_defaults(run=_run)


def message_request(args: argparse.Namespace) -> MessageRequest:
    """Return the `POST /admin/messages` body the options describe; raise `ValidationError`."""
    target = {
        "customer_id": args.customer,
        "conversation_id": args.conversation,
        "interaction_id": args.reply_to,
    }
    body: dict[str, Any] = {"to": {k: v for k, v in target.items() if v}, "channel": args.channel}
    content = {"text": args.text, "subject": args.subject}
    if any(content.values()):
        body["content"] = {k: v for k, v in content.items() if v}
    if args.template is not None:
        template = {"name": args.template, "language": args.language, "parameters": args.param}
        body["template"] = {k: v for k, v in template.items() if v}
    if args.tag is not None:
        body["tag"] = args.tag
    return MessageRequest.model_validate(body)


def _run(args: argparse.Namespace, plugins: Plugins) -> int:
    if args.template is None and (args.language or args.param):
        print("gateway send: --language and --param go with --template", file=sys.stderr)
        return 2
    try:
        request = message_request(args)
    except ValidationError as exc:
        print(f"gateway send: {_first_problem(exc)}", file=sys.stderr)
        return 2
    key = args.idempotency_key or str(uuid4())

    async def work(store: Store, config: GatewayConfig) -> int:
        from gateway.runtime import Gateway

        gateway = Gateway(config, plugins, store=store)
        try:
            queued = await queue_message(gateway, key, request)
        except RefusedError as exc:
            print(f"gateway send: {exc.code}: {exc}", file=sys.stderr)
            return 1
        document = {"message": message_document(queued.message)}
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return 0

    return with_store(args, plugins, work)


def _first_problem(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
