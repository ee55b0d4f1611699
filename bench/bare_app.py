"""The baseline: bare aiohttp doing only what no webhook receiver can skip.

For `POST /webhooks/{channel_id}` it reads the body, checks the Standard Webhooks signature
(HMAC-SHA256, constant-time compare, 5-minute timestamp window) exactly as the gateway's `generic`
channel does, parses the JSON with orjson (the gateway's JSON library) and answers 200 with a
body shaped like the gateway's (`{"ids": ["<26 characters>"]}`). No validation, no storage, no
metrics. The gateway's throughput divided by this one's is the cost of everything the gateway
adds: canonical model, routing, durable group commit, delivery.

    python bench/bare_app.py --port 8090 --secret whsec_... [--loop asyncio|uvloop]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import time

import orjson
from aiohttp import web
from loops import LOOPS, serve

TOLERANCE_S = 300
_JSON = "application/json"


def create_app(key: bytes) -> web.Application:
    """Return the bare app verifying with HMAC key `key`."""
    numbers = itertools.count()

    def reject(status: int, message: str) -> web.Response:
        return web.Response(
            status=status, body=orjson.dumps({"error": message}), content_type=_JSON
        )

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        headers = request.headers
        msg_id = headers.get("webhook-id", "")
        stamp = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        if not (msg_id and stamp.isdigit() and signatures):
            return reject(401, "missing or malformed signature headers")
        if abs(time.time() - int(stamp)) > TOLERANCE_S:
            return reject(401, "webhook-timestamp is more than 5 minutes away from now")
        signed = b"%s.%s.%s" % (msg_id.encode(), stamp.encode(), body)
        expected = base64.b64encode(hmac.digest(key, signed, hashlib.sha256))
        offered = [s[3:].encode() for s in signatures.split() if s.startswith("v1,")]
        if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return reject(401, "no webhook-signature matches")
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError:
            return reject(400, "body is not valid JSON")
        ids = [f"{next(numbers):026d}"]  # the size of the gateway's ULIDs, without the work
        return web.Response(body=orjson.dumps({"ids": ids}), content_type=_JSON)

    async def ready(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ready"}', content_type=_JSON)

    app = web.Application()
    app.router.add_route("*", "/webhooks/{channel_id}", webhook)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True, help="Standard Webhooks secret, whsec_...")
    parser.add_argument("--loop", choices=LOOPS, default="asyncio")
    args = parser.parse_args()
    key = base64.b64decode(args.secret.removeprefix("whsec_"))
    serve(create_app(key), args.host, args.port, args.loop)


if __name__ == "__main__":
    main()
