"""The HTTP edge never answers 5xx (issue 10, item 11 and "Must show"): for every installed
channel type, thousands of generated requests over a real socket on 127.0.0.1.

Bodies are random or mutated recordings (the plugins' fixtures: dates, integers, strings,
unicode, huge values), headers random or at their edges (non-UTF-8 bytes, `²`, 5,000 digits),
content types wrong; each request goes to a verifying channel, signed with the test secret
(so the parse path is reached) or not, or to an `insecure` one. Every answer must be below
500, every 4xx a JSON error with a reason, and nothing is stored from a refused request.
The generator is a seeded `random.Random`: a failure names its case number and reproduces.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from gateway import standard_webhooks
from gateway.conformance import EDGE_JSON, EDGE_TEXT, HEADER_EDGES
from gateway.plugins import load_plugins
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET, message

CASES_PER_TYPE = 2_000
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TWILIO_TOKEN = "3f9c2a7e5b1d4c8e9a0b6f2d7c3e1a5b"
META_SECRET = "7c2f5e8a1b9d4c6e3f0a2b4d6e8f1a3c"
EMAIL_AUTH = {"username": "fuzz-user", "password": "fuzz-Zq8v2LxR7tNw4kPc"}
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
TELEGRAM_TOKEN = "tg-Fuzz_Secret_Token-9x"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_CONTENT_TYPES = (
    JSON, FORM, "text/plain", "", "application/json; charset=utf-16", "multipart/form-data",
    "application/x-www-form-urlencoded; charset=latin-1", "application/\udcff", "*/*",
)  # fmt: skip
_SAFE_HEADER_EDGES = tuple(
    v for v in HEADER_EDGES if len(v) < 8000 and (v.isprintable() or "\udcff" in v)
)
"""Edge values a well-formed header line can carry: malformed HTTP (control characters, lines
over aiohttp's 8,190 bytes) is refused by the HTTP parser before the gateway sees it."""
_HEADER_BYTES = [*range(0x20, 0x7F), *range(0x80, 0x100)]

Sign = Callable[[bytes, str, str], dict[str, str]]
"""Given a body, its content type and the URL called: the headers signing it."""


@dataclass(frozen=True)
class Provider:
    """How to configure, feed and sign the channels of one provider."""

    settings: Mapping[str, Any]
    seeds: list[tuple[bytes, str]]
    sign: Sign
    headers: tuple[str, ...]
    """Headers the channels read, fuzzed at their edges."""


def _sign_generic(body: bytes, content_type: str, url: str) -> dict[str, str]:
    key = standard_webhooks.decode_secret(SECRET)
    return standard_webhooks.signature_headers([key], "msg_fuzz", int(time.time()), body)


def _sign_twilio(body: bytes, content_type: str, url: str) -> dict[str, str]:
    signature = importlib.import_module("gateway_twilio.signature")
    if content_type != FORM:
        return {}  # a JSON webhook is signed through its URL's bodySHA256: left unsigned here
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(body.decode(errors="replace"), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return {"X-Twilio-Signature": signature.compute_signature(TWILIO_TOKEN, url, params)}


def _sign_meta(body: bytes, content_type: str, url: str) -> dict[str, str]:
    signature = importlib.import_module("gateway_meta.signature")
    return {"X-Hub-Signature-256": signature.signature_header(META_SECRET, body)}


def _sign_basic(body: bytes, content_type: str, url: str) -> dict[str, str]:
    auth = importlib.import_module("gateway_email.auth")
    return {"Authorization": auth.basic_auth_header(EMAIL_AUTH["username"], EMAIL_AUTH["password"])}


def _unsigned(body: bytes, content_type: str, url: str) -> dict[str, str]:
    return {}  # Mailgun signs inside the body: the recordings carry their (now stale) signature


def _email_fixtures(prefix: str) -> list[tuple[bytes, str]]:
    """Return the e-mail plugin's recordings of one provider, each with its content type."""
    seeds = []
    for path in sorted((PLUGINS / "email" / "tests" / "fixtures").glob(f"{prefix}_*")):
        body = path.read_bytes()
        if path.suffix == ".multipart":
            boundary = body.split(b"\r\n", 1)[0].removeprefix(b"--").decode()
            seeds.append((body, f"multipart/form-data; boundary={boundary}"))
        elif not path.name.endswith(".golden.json"):
            seeds.append((body, FORM if path.suffix == ".form" else JSON))
    return seeds


def _sign_telegram(body: bytes, content_type: str, url: str) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_TOKEN}  # Telegram signs no body


def _sign_slack(body: bytes, content_type: str, url: str) -> dict[str, str]:
    signature = importlib.import_module("gateway_slack.signature")
    timestamp = str(int(time.time()))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature.signature_header(SLACK_SECRET, timestamp, body),
    }


def _fixtures(plugin: str, suffix: str, content_type: str) -> list[tuple[bytes, str]]:
    folder = PLUGINS / plugin / "tests" / "fixtures"
    return [
        (path.read_bytes().strip(), content_type)
        for path in sorted(folder.glob(f"*{suffix}"))
        if not path.name.endswith(".golden.json")
    ]


def _generic_seeds() -> list[tuple[bytes, str]]:
    call = {**message("c-1"), "type": "call", "call": {"status": "completed", "duration_s": 63}}
    status = {
        "external_id": "s-1",
        "type": "status",
        "direction": "outbound",
        "occurred_at": "2026-11-22T10:00:00+01:00",
        "status": {"of_external_id": "m-1", "state": "read"},
        "metadata": {"campaign": "x"},
    }
    documents = [message(), call, status, [message("a-1"), message("a-2")]]
    return [(json.dumps(document).encode(), JSON) for document in documents]


PROVIDERS: dict[str, Callable[[], Provider]] = {
    "generic": lambda: Provider(
        {"secret": SECRET},
        _generic_seeds(),
        _sign_generic,
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ),
    "twilio": lambda: Provider(
        {"auth_token": TWILIO_TOKEN},
        _fixtures("twilio", ".txt", FORM),
        _sign_twilio,
        ("X-Twilio-Signature", "I-Twilio-Idempotency-Token", "X-Forwarded-Proto"),
    ),
    "meta": lambda: Provider(
        {"app_secret": META_SECRET, "verify_token": "fuzz-verify-token"},
        _fixtures("meta", ".json", JSON),
        _sign_meta,
        ("X-Hub-Signature-256", "X-Hub-Signature"),
    ),
    "sendgrid": lambda: Provider(
        {"basic_auth": EMAIL_AUTH},
        _email_fixtures("sendgrid"),
        _sign_basic,
        ("Authorization", "Content-Type"),
    ),
    "mailgun": lambda: Provider(
        {"signing_key": MAILGUN_KEY}, _email_fixtures("mailgun"), _unsigned, ("Content-Type",)
    ),
    "postmark": lambda: Provider(
        {"basic_auth": EMAIL_AUTH},
        _email_fixtures("postmark"),
        _sign_basic,
        ("Authorization", "Content-Type"),
    ),
    "telegram": lambda: Provider(
        {"secret_token": TELEGRAM_TOKEN},
        _fixtures("telegram", ".json", JSON),
        _sign_telegram,
        ("X-Telegram-Bot-Api-Secret-Token",),
    ),
    "slack": lambda: Provider(
        {"signing_secret": SLACK_SECRET},
        _fixtures("slack", ".json", JSON),
        _sign_slack,
        ("X-Slack-Signature", "X-Slack-Request-Timestamp", "X-Slack-Retry-Num"),
    ),
}
"""Every installed channel's provider must be listed: a new plugin extends this table."""


def _channel_types() -> list[tuple[str, str]]:
    """Return (type name, provider) of every channel type the installed plugins register."""
    return [(r.cls.type_name, r.cls.provider) for r in load_plugins().channels]


# --- generating requests ----------------------------------------------------------------------


def _random_text(rng: random.Random) -> str:
    alphabets = (
        "abc019 +-:.",
        "²\u0661\u0662\uff19é☕\u200b\ufeff",
        "\U0001f600\U0010ffff",
        "<>&%\"'\\{}[]",
    )
    alphabet = rng.choice(alphabets)
    return "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 5, 40, 300))))


def _random_value(rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.55:
        return rng.choice(EDGE_JSON)
    if pick < 0.8:
        return _random_text(rng)
    if pick < 0.9:
        return "x" * rng.choice((513, 4097, 70_000))
    return rng.choice(({"a": [1, {"b": None}]}, [[[]]], -0.0, 1.5e-300, 2**200))


def _leaves(document: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    children = (
        document.items() if isinstance(document, dict) else enumerate(document)
        if isinstance(document, list) else ()
    )  # fmt: skip
    for key, child in children:
        yield from _leaves(child, (*path, key))


def _mutate_json(rng: random.Random, body: bytes) -> bytes:
    document = json.loads(body)
    for _ in range(rng.choice((1, 1, 2, 3))):
        path = rng.choice(list(_leaves(document)))
        if not path:
            document = _random_value(rng)
            continue
        node = document
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = _random_value(rng)
    return json.dumps(document, ensure_ascii=rng.random() < 0.5).encode()


def _mutate_form(rng: random.Random, body: bytes) -> bytes:
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    for _ in range(rng.choice((1, 1, 2, 3))):
        value = rng.choice(EDGE_TEXT) if rng.random() < 0.6 else _random_text(rng)
        if pairs and rng.random() < 0.8:
            index = rng.randrange(len(pairs))
            pairs[index] = (pairs[index][0], value)
        else:
            pairs.append(
                (rng.choice(("NumMedia", "CallDuration", "Timestamp", "MediaUrl0")), value)
            )
    return urlencode(pairs).encode()


def _mutate_bytes(rng: random.Random, body: bytes) -> bytes:
    """Return a multipart recording with a few spans replaced by edge or random text."""
    mutated = bytearray(body)
    for _ in range(rng.choice((1, 1, 2, 3))):
        start = rng.randrange(len(mutated) + 1)
        end = min(len(mutated), start + rng.randrange(40))
        value = rng.choice(EDGE_TEXT) if rng.random() < 0.6 else _random_text(rng)
        mutated[start:end] = value.encode("utf-8", "surrogatepass")
    return bytes(mutated)


def _body(rng: random.Random, seed: bytes, content_type: str) -> bytes:
    pick = rng.random()
    if pick < 0.1:
        return seed
    if pick < 0.7:
        if content_type == FORM:
            return _mutate_form(rng, seed)
        return _mutate_json(rng, seed) if content_type == JSON else _mutate_bytes(rng, seed)
    if pick < 0.78:
        return seed[: rng.randrange(len(seed) + 1)]
    if pick < 0.84:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
    if pick < 0.9:
        return json.dumps(_random_value(rng)).encode()
    if pick < 0.95:
        return b"[" * 5_000 + b"]" * 5_000
    flipped = bytearray(seed)
    flipped[rng.randrange(len(flipped))] = rng.randrange(256)
    return bytes(flipped)


@dataclass
class Case:
    """One generated request."""

    channel_id: str
    method: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


def _case(rng: random.Random, type_name: str, provider: Provider, base_url: str) -> Case:
    seed, content_type = rng.choice(provider.seeds) if provider.seeds else (b"{}", JSON)
    body = _body(rng, seed, content_type)
    if rng.random() < 0.1:
        content_type = rng.choice(_CONTENT_TYPES)
    variant = rng.choice(("signed", "signed", "unsigned", "open"))
    channel_id = f"{type_name}-{'open' if variant == 'open' else 'secure'}"
    headers = {"Content-Type": content_type}
    if variant == "signed":
        headers |= provider.sign(body, content_type, f"{base_url}/webhooks/{channel_id}")
    if rng.random() < 0.3:
        name = rng.choice(provider.headers)
        headers[name] = (
            rng.choice(_SAFE_HEADER_EDGES)
            if rng.random() < 0.7
            else bytes(rng.choices(_HEADER_BYTES, k=20)).decode("utf-8", "surrogateescape")
        )
    method = "POST" if rng.random() < 0.92 else rng.choice(("GET", "PUT", "DELETE"))
    query = (
        urlencode({"hub.mode": "subscribe", "hub.challenge": _random_text(rng)})
        if method == "GET"
        else ""
    )
    return Case(channel_id, method, body, headers, query)


# --- sending over a real socket ---------------------------------------------------------------


async def _send(port: int, case: Case) -> tuple[int, str, bytes]:
    """Send `case` as raw HTTP/1.1 bytes (headers may carry any byte); return the answer."""
    path = f"/webhooks/{case.channel_id}" + (f"?{case.query}" if case.query else "")
    lines = [
        f"{case.method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Content-Length: {len(case.body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in case.headers.items()),
    ]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + case.body)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, body = rest.partition(b"\r\n\r\n")
    content_type = ""
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-type":
            content_type = value.strip()
    return int(status_line.split()[1]), content_type, body


def _problem(status: int, content_type: str, body: bytes) -> str | None:
    """Return what is wrong with an answer, or None."""
    if status >= 500:
        return f"answered {status}: {body[:200]!r}"
    if status < 400:
        return None
    if not content_type.startswith(JSON):
        return f"{status} is not JSON ({content_type!r}): {body[:200]!r}"
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"{status} has no error.message: {body[:200]!r}"
    return None if isinstance(message, str) and message else f"{status} has an empty reason"


async def _start(gateway_factory: GatewayFactory, types: list[tuple[str, str]]) -> GatewayUnderTest:
    channels: dict[str, Any] = {}
    for type_name, provider_name in types:
        settings = PROVIDERS[provider_name]().settings
        channels[f"{type_name}-secure"] = {"type": type_name, **settings}
        channels[f"{type_name}-open"] = {"type": type_name, **settings, "insecure": True}
    return await gateway_factory({"channels": channels, "backends": {"audit": {"type": "log"}}})


def test_every_installed_channel_type_has_a_provider_in_this_fuzz_test() -> None:
    missing = {provider for _, provider in _channel_types()} - PROVIDERS.keys()
    assert not missing, f"add the providers {sorted(missing)} to PROVIDERS"


@pytest.mark.parametrize(("type_name", "provider_name"), _channel_types())
async def test_fuzzed_requests_never_get_a_5xx_and_refusals_store_nothing(
    gateway_factory: GatewayFactory, tmp_path: Path, type_name: str, provider_name: str
) -> None:
    provider = PROVIDERS[provider_name]()
    gut = await _start(gateway_factory, [(type_name, provider_name)])
    port = gut.client.server.port
    assert port is not None
    base_url = f"http://127.0.0.1:{port}"
    rng = random.Random(f"issue-10/{type_name}")
    problems: list[str] = []
    statuses: dict[int, int] = {}
    with closing(sqlite3.connect(f"file:{tmp_path}/gateway.db?mode=ro", uri=True)) as db:

        def stored() -> int:
            count: int = db.execute("SELECT count(*) FROM interactions").fetchone()[0]
            return count

        for number in range(CASES_PER_TYPE):
            case = _case(rng, type_name, provider, base_url)
            before = stored()
            status, content_type, body = await _send(port, case)
            statuses[status] = statuses.get(status, 0) + 1
            problem = _problem(status, content_type, body)
            if problem is None and status >= 400 and stored() != before:
                problem = f"{status} but {stored() - before} interaction(s) stored"
            if problem and len(problems) < 20:
                problems.append(f"case {number} ({case.method} {case.channel_id}): {problem}")
    assert not problems, "\n".join(problems)
    # The generator reached every path: stored, refused as unauthentic and as unusable.
    assert statuses.keys() >= {401, 422}, statuses
    assert any(200 <= s < 300 for s in statuses), statuses


_BAD_STANDARD_HEADERS = [
    {"webhook-timestamp": "²"},
    {"webhook-timestamp": "\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660"},
    {"webhook-timestamp": "9" * 5_000},
    {"webhook-timestamp": str(2**64)},
    {"webhook-timestamp": "-1"},
    {"webhook-id": "msg_\udcff"},  # the byte 0xFF, as the server hands it over
    {"webhook-id": "msg_\udcff", "webhook-timestamp": "²"},
    {"webhook-id": "x" * 513},
    {"webhook-id": "msg 1"},
    {"webhook-signature": "v1,\udcff\udcfe"},
]


@pytest.mark.parametrize("bad", _BAD_STANDARD_HEADERS)
async def test_odd_standard_webhook_headers_are_401_json_not_500(
    gateway_factory: GatewayFactory, bad: dict[str, str]
) -> None:
    gut = await _start(gateway_factory, [("generic", "generic")])
    body = json.dumps(message()).encode()
    headers = {"Content-Type": JSON, **_sign_generic(body, JSON, ""), **bad}
    port = gut.client.server.port
    assert port is not None
    status, content_type, answer = await _send(port, Case("generic-secure", "POST", body, headers))
    assert (status, _problem(status, content_type, answer)) == (401, None)
    assert await gut.interactions() == []


@pytest.mark.parametrize("webhook_id", ["msg_\udcff", "x" * 513, "a b"])
async def test_an_unverified_channel_refuses_an_unusable_webhook_id(
    gateway_factory: GatewayFactory, webhook_id: str
) -> None:
    gut = await _start(gateway_factory, [("generic", "generic")])
    body = json.dumps({k: v for k, v in message().items() if k != "external_id"}).encode()
    headers = {"Content-Type": JSON, "webhook-id": webhook_id}
    port = gut.client.server.port
    assert port is not None
    status, content_type, answer = await _send(port, Case("generic-open", "POST", body, headers))
    assert (status, _problem(status, content_type, answer)) == (400, None)
    assert b"webhook-id" in answer
    assert await gut.interactions() == []
