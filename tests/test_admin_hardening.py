"""The admin API refuses what it cannot serve safely: foreign hosts and origins, forms, bad
tokens, ids, cursors and filters; and what it shows agrees with itself (issue 10, items 16, 20)."""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

import orjson
import pytest
from aiohttp import ClientResponse, web

from gateway.schema import Interaction
from gateway.testing import GatewayFactory, GatewayUnderTest
from tests.payloads import SECRET, message, webhook_backend
from tests.receiver import Receiver
from tests.waiting import eventually

TOKEN = "admin-t0ken"
ANN, BOB = "+15550000001", "+15550000002"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
"""The one way admin and CLI JSON write a time."""


@dataclass
class Seeded:
    """A gateway whose `hook` backend answers as `receiver` does, with one stored message."""

    gut: GatewayUnderTest
    receiver: Receiver
    interaction_id: str
    customer_id: str


def settings(receiver: Receiver, **admin: Any) -> dict[str, Any]:
    return {
        "channels": {"sms": {"type": "generic", "kind": "sms", "secret": SECRET}},
        "backends": {"hook": webhook_backend(receiver.url, retry={"max_attempts": 2})},
        "admin": admin,
    }


async def send(gut: GatewayUnderTest, external_id: str, phone: str) -> Interaction:
    response = await gut.post_signed("sms", message(external_id, phone=phone), SECRET)
    assert response.status == 200, await response.text()
    stored = await gut.gateway.store.get_interaction((await response.json())["ids"][0])
    assert isinstance(stored, Interaction)
    return stored


async def refuse(interaction: Interaction, arrival: int) -> web.Response:
    return web.json_response({"error": "try later"}, status=503)


async def accept(interaction: Interaction, arrival: int) -> web.Response:
    return web.json_response({"record_refs": ["contact 1"]})


async def seed(gateway_factory: GatewayFactory, receiver: Receiver, **admin: Any) -> Seeded:
    gut = await gateway_factory(settings(receiver, **admin))
    stored = await send(gut, "m-1", ANN)
    return Seeded(gut, receiver, stored.id, str(stored.customer_id))


async def dead(seeded: Seeded) -> None:
    """Wait until the seeded message's delivery is dead (503 twice, with a budget of 2)."""

    async def is_dead() -> bool:
        return bool((await delivery(seeded))["state"] == "dead")

    await eventually(is_dead)


@pytest.fixture
async def seeded(gateway_factory: GatewayFactory, receiver: Receiver) -> Seeded:
    """A gateway whose one delivery is being refused until it is dead."""
    receiver.behaviour = refuse
    return await seed(gateway_factory, receiver)


async def delivery(seeded: Seeded) -> dict[str, Any]:
    shown = await seeded.gut.admin.get(f"/admin/interactions/{seeded.interaction_id}")
    [only] = (await shown.json())["deliveries"]
    return only  # type: ignore[no-any-return]


async def error(response: ClientResponse, status: int, code: str) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


# --- item 16: Host, Origin, JSON bodies, the token ---------------------------------------

FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:8081",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "10.0.0.1:8081",
    "[::2]:8081",
    "user@127.0.0.1",
    "127.0.0.1:8081/x",
    "not a host",
]
LOOPBACK_HOSTS = ["127.0.0.1", "127.0.0.1:8081", "127.9.9.9:1", "localhost", "LocalHost:8081"]
LOOPBACK_HOSTS += ["[::1]", "[::1]:8081"]


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/admin/interactions"), ("POST", "/admin/dead-letters/replay")]
)
async def test_a_foreign_host_is_refused_without_a_token(
    seeded: Seeded, host: str, method: str, path: str
) -> None:
    response = await seeded.gut.admin.request(method, path, headers={"Host": host})
    await error(response, 403, "forbidden_host")


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
async def test_loopback_hosts_are_served(seeded: Seeded, host: str) -> None:
    response = await seeded.gut.admin.get("/admin/interactions", headers={"Host": host})
    assert response.status == 200


async def test_with_a_token_any_host_is_served(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    """A page in a browser cannot present the token: with one set, the Host may be a DNS name."""
    seeded = await seed(gateway_factory, receiver, token=TOKEN)
    headers = {"Host": "gateway.internal:8081", "Authorization": f"Bearer {TOKEN}"}
    assert (await seeded.gut.admin.get("/admin/interactions", headers=headers)).status == 200
    anonymous = await seeded.gut.admin.get("/admin/interactions", headers={"Host": "x.example"})
    await error(anonymous, 401, "unauthorized")


def same_origin(gut: GatewayUnderTest) -> str:
    return f"http://127.0.0.1:{gut.admin.port}"


FOREIGN_ORIGINS = ["http://evil.example", "null", "http://127.0.0.1:1", "http://localhost", "x"]


async def test_a_cross_origin_replay_is_refused_and_replays_nothing(seeded: Seeded) -> None:
    await dead(seeded)
    for origin in [*FOREIGN_ORIGINS, "file://", "https://127.0.0.1"]:
        response = await seeded.gut.admin.post(
            "/admin/dead-letters/replay", json={}, headers={"Origin": origin}
        )
        await error(response, 403, "forbidden_origin")
    assert (await delivery(seeded))["state"] == "dead"


async def test_a_same_origin_request_is_served(seeded: Seeded) -> None:
    origin = same_origin(seeded.gut)
    response = await seeded.gut.admin.get("/admin/interactions", headers={"Origin": origin})
    assert response.status == 200
    await dead(seeded)
    response = await seeded.gut.admin.post(
        "/admin/dead-letters/replay", json={}, headers={"Origin": origin}
    )
    assert await response.json() == {"replayed": 1}


UNSAFE_ROUTES = [
    ("POST", "/admin/dead-letters/replay"),
    ("POST", "/admin/deliveries/1/replay"),
    ("POST", "/admin/customers/{customer}/identities"),
    ("POST", "/admin/customers/{customer}/unmerge"),
    ("DELETE", "/admin/customers/{customer}"),
    ("POST", "/admin/merge-proposals/1/accept"),
    ("POST", "/admin/merge-proposals/1/reject"),
]
FORM_MEDIA = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]


@pytest.mark.parametrize(("method", "path"), UNSAFE_ROUTES)
async def test_a_form_body_is_refused_on_every_route_that_changes_something(
    seeded: Seeded, method: str, path: str
) -> None:
    """What a cross-origin form (or a `fetch` with no preflight) can send: 415, nothing done."""
    await dead(seeded)
    for media, body in product(FORM_MEDIA, (b'{"identity": "phone:+15550000002"}', b"")):
        response = await seeded.gut.admin.request(
            method,
            path.format(customer=seeded.customer_id),
            data=body,
            headers={"Content-Type": media},
        )
        await error(response, 415, "unsupported_media_type")
    assert (await delivery(seeded))["state"] == "dead"
    customer = await seeded.gut.admin.get(f"/admin/customers/{seeded.customer_id}")
    assert [i["value"] for i in (await customer.json())["identities"]] == [ANN]


async def test_a_body_without_a_json_media_type_is_refused(seeded: Seeded) -> None:
    await dead(seeded)
    response = await seeded.gut.admin.post("/admin/dead-letters/replay", data=b"{}")
    await error(response, 415, "unsupported_media_type")  # application/octet-stream
    assert (await delivery(seeded))["state"] == "dead"


@dataclass
class Spy:
    calls: list[tuple[Any, Any]]


@pytest.fixture
def compare_digest(monkeypatch: pytest.MonkeyPatch) -> Spy:
    """Record every `hmac.compare_digest` the admin guard makes (and answer as it would)."""
    spy, real = Spy([]), hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        spy.calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("gateway.admin_guard.hmac.compare_digest", recording)
    return spy


async def test_the_token_is_compared_in_constant_time(
    gateway_factory: GatewayFactory, receiver: Receiver, compare_digest: Spy
) -> None:
    seeded = await seed(gateway_factory, receiver, token=TOKEN)
    for offered, status in (("wrong", 401), (TOKEN[:-1], 401), (TOKEN, 200)):
        compare_digest.calls.clear()
        headers = {"Authorization": f"Bearer {offered}"}
        response = await seeded.gut.admin.get("/admin/channels", headers=headers)
        assert response.status == status
        # Other code (signatures) may compare too: the token's comparisons are the ones here.
        mine = [call for call in compare_digest.calls if TOKEN.encode() in call]
        assert mine == [(offered.encode(), TOKEN.encode())]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_bearer_scheme_is_case_insensitive(
    gateway_factory: GatewayFactory, receiver: Receiver, scheme: str
) -> None:
    seeded = await seed(gateway_factory, receiver, token=TOKEN)
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    assert (await seeded.gut.admin.get("/admin/channels", headers=headers)).status == 200


async def raw_request(gut: GatewayUnderTest, head: bytes) -> tuple[int, bytes]:
    """Send `head` as is to the admin port; return the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gut.admin.port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    "authorization",
    [
        b"Bearer \xff\xfe",
        b"\xff\xfe",
        b"Bearer " + TOKEN.encode() + b"\xff",
        b"Bearer caf\xe9",  # latin-1
        b"Bearer \xe2\x82",  # a cut-off UTF-8 sequence
        b"bearer\xa0" + TOKEN.encode(),
    ],
)
async def test_an_authorization_header_that_is_not_utf8_is_401_json(
    gateway_factory: GatewayFactory, receiver: Receiver, authorization: bytes
) -> None:
    seeded = await seed(gateway_factory, receiver, token=TOKEN)
    head = (
        b"GET /admin/channels HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: " + authorization + b"\r\n\r\n"
    )
    status, body = await raw_request(seeded.gut, head)
    assert status == 401
    assert b'"code":"unauthorized"' in body


# --- item 20: ids, cursors, filters, 404/405, `+`, crosswalk, timestamps, attempts --------

LIST_ROUTES = [
    "/admin/interactions",
    "/admin/deliveries",
    "/admin/customers/{customer}/timeline",
    "/admin/merge-proposals",
]
INTEGER_CURSORS = {"/admin/deliveries", "/admin/merge-proposals"}
NOT_INTEGERS = ["abc", "-1", "1.5", "1e3", "+1", " 1", "0x10", "1_000", "\u0663", "\u00b2", ""]
TOO_BIG = [str(2**63), "99999999999999999999", "9" * 5000]


@pytest.mark.parametrize("cursor", [*NOT_INTEGERS, *TOO_BIG, "01JDQ4K6Z8W5N7T0M3F2V9X1AB"])
@pytest.mark.parametrize("route", LIST_ROUTES)
async def test_a_bad_or_unknown_cursor_is_400_on_every_list(
    seeded: Seeded, route: str, cursor: str
) -> None:
    """Never the first page again: an unknown cursor is not a fresh start."""
    path = route.format(customer=seeded.customer_id)
    response = await seeded.gut.admin.get(path, params={"cursor": cursor})
    assert "cursor" in await error(response, 400, "bad_cursor")


@pytest.mark.parametrize("route", LIST_ROUTES)
async def test_the_last_cursor_of_a_list_gives_an_empty_page(seeded: Seeded, route: str) -> None:
    path = route.format(customer=seeded.customer_id)
    cursor = str(2**63 - 1) if route in INTEGER_CURSORS else seeded.interaction_id
    response = await seeded.gut.admin.get(path, params={"cursor": cursor})
    assert response.status == 200, await response.text()
    assert [len(v) for v in (await response.json()).values() if isinstance(v, list)] == [0]


ID_ROUTES = [
    "/admin/deliveries/{id}/replay",
    "/admin/merge-proposals/{id}/accept",
    "/admin/merge-proposals/{id}/reject",
]


@pytest.mark.parametrize("bad_id", [*[i for i in NOT_INTEGERS if i.strip()], *TOO_BIG])
@pytest.mark.parametrize("route", ID_ROUTES)
async def test_an_id_that_is_no_integer_in_range_is_400(
    seeded: Seeded, route: str, bad_id: str
) -> None:
    response = await seeded.gut.admin.post(route.replace("{id}", bad_id))
    assert "ids are integers" in await error(response, 400, "bad_request")


@pytest.mark.parametrize("route", ID_ROUTES)
async def test_the_largest_id_is_simply_unknown(seeded: Seeded, route: str) -> None:
    response = await seeded.gut.admin.post(route.replace("{id}", str(2**63 - 1)))
    await error(response, 404, "not_found")


GET_ROUTES = [
    "/admin/channels",
    "/admin/backends",
    *LIST_ROUTES,
    "/admin/interactions/{interaction}",
    "/admin/customers?identity=phone:%2B15550000001",
    "/admin/customers/{customer}",
    "/admin/customers/{customer}/erasures",
]


@pytest.mark.parametrize("route", GET_ROUTES)
async def test_an_unknown_query_parameter_is_400_naming_it(seeded: Seeded, route: str) -> None:
    path = route.format(customer=seeded.customer_id, interaction=seeded.interaction_id)
    sep = "&" if "?" in path else "?"
    response = await seeded.gut.admin.get(f"{path}{sep}chanel=sms")
    assert "'chanel'" in await error(response, 400, "bad_request")


async def test_an_unknown_query_parameter_of_a_replay_is_400_and_replays_nothing(
    seeded: Seeded,
) -> None:
    await dead(seeded)
    response = await seeded.gut.admin.post("/admin/dead-letters/replay?backends=hook")
    assert "'backends'" in await error(response, 400, "bad_request")
    assert (await delivery(seeded))["state"] == "dead"


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/admin/interactions?channel=nope", "channel"),
        ("GET", "/admin/deliveries?backend=nope", "backend"),
        ("POST", "/admin/dead-letters/replay?backend=nope", "backend"),
        ("GET", "/admin/deliveries?state=lost", "state"),
        ("GET", "/admin/merge-proposals?state=lost", "state"),
    ],
)
async def test_an_unknown_filter_value_is_400_naming_the_parameter_everywhere(
    seeded: Seeded, method: str, path: str, name: str
) -> None:
    response = await seeded.gut.admin.request(method, path)
    assert (await error(response, 400, "bad_request")).startswith(name)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/admin/channels", "GET"),
        ("POST", "/admin/interactions", "GET"),
        ("PUT", "/admin/deliveries/1/replay", "POST"),
        ("GET", "/admin/dead-letters/replay", "POST"),
        ("PATCH", "/admin/customers/{customer}", "DELETE"),
    ],
)
async def test_a_wrong_method_is_405_json_with_allow(
    seeded: Seeded, method: str, path: str, allow: str
) -> None:
    response = await seeded.gut.admin.request(method, path.format(customer=seeded.customer_id))
    await error(response, 405, "method_not_allowed")
    assert allow in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/admin/nothing", "/", "/admin/deliveries/1", "/admin/x/y/z"])
async def test_an_unknown_route_is_404_json(seeded: Seeded, path: str) -> None:
    await error(await seeded.gut.admin.get(path), 404, "not_found")


UK = "+442079460958"
"""Not a number of the default region (US): without its `+` it is not this number."""


@pytest.mark.parametrize(
    "query",
    [
        "phone:+442079460958",  # `+` form-decodes as a space
        "phone:%2B442079460958",
        "phone:+44+20+7946+0958",
        "phone:%2B44%2020%207946%200958",
        "PHONE:+442079460958",
    ],
)
async def test_a_phone_with_a_literal_plus_is_found(
    gateway_factory: GatewayFactory, receiver: Receiver, query: str
) -> None:
    """Sent as written (aiohttp's client would re-encode the `+`)."""
    gut = await gateway_factory(settings(receiver))
    customer_id = (await send(gut, "m-1", UK)).customer_id
    head = f"GET /admin/customers?identity={query} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    status, body = await raw_request(gut, (head + "Connection: close\r\n\r\n").encode())
    assert status == 200, body
    [found] = orjson.loads(body)["customers"]
    assert found["id"] == customer_id


async def test_an_email_with_a_literal_plus_is_found(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    gut = await gateway_factory(settings(receiver))
    body = message("e-1")
    body["sender"]["identities"] = [{"kind": "email", "value": "jane+shop@example.com"}]
    assert (await gut.post_signed("sms", body, SECRET)).status == 200
    for query in ("email:jane+shop@example.com", "email:jane%2Bshop@example.com"):
        head = f"GET /admin/customers?identity={query} HTTP/1.1\r\nHost: localhost\r\n"
        status, found = await raw_request(gut, (head + "Connection: close\r\n\r\n").encode())
        assert status == 200, found
        [customer] = orjson.loads(found)["customers"]
        assert customer["identities"] == [
            {"kind": "email", "value": "jane+shop@example.com", "verified": True}
        ]


async def test_a_record_both_merged_customers_had_is_shown_once(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    """The CRM matched Ann and Bob to one contact; merged, they hold it once (not twice)."""
    receiver.behaviour = accept  # every delivery reports `contact 1`
    gut = await gateway_factory(settings(receiver))
    ann = str((await send(gut, "m-1", ANN)).customer_id)
    bob = str((await send(gut, "m-2", BOB)).customer_id)

    async def both_known() -> bool:
        shown = [await (await gut.admin.get(f"/admin/customers/{c}")).json() for c in (ann, bob)]
        return all(s["crosswalk"] == {"hook": ["contact 1"]} for s in shown)

    await eventually(both_known)
    linked = await gut.admin.post(
        f"/admin/customers/{ann}/identities", json={"identity": f"phone:{BOB}"}
    )
    assert (await linked.json())["customer"]["crosswalk"] == {"hook": ["contact 1"]}
    assert await gut.gateway.store.crosswalk_of(ann, "hook") == ("contact 1",)
    await send(gut, "m-3", BOB)  # delivered with `contact 1` as Ann's record: reported again

    async def delivered_three() -> bool:
        return len(receiver.arrivals) >= 3

    await eventually(delivered_three)
    for customer_id in (ann, bob):
        shown = await (await gut.admin.get(f"/admin/customers/{customer_id}")).json()
        assert shown["crosswalk"] == {"hook": ["contact 1"]}
    erased = await (await gut.admin.delete(f"/admin/customers/{ann}")).json()
    assert erased["erasure"]["crosswalk"] == {"hook": ["contact 1"]}


def timestamps(document: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (key, value) of every field named `..._at` in a JSON document."""
    if isinstance(document, dict):
        for name, value in document.items():
            if name.endswith("_at") and not isinstance(value, dict | list):
                yield name, value
            else:
                yield from timestamps(value, name)
    elif isinstance(document, list):
        for item in document:
            yield from timestamps(item, key)


async def test_every_admin_timestamp_is_written_one_way(
    gateway_factory: GatewayFactory, receiver: Receiver
) -> None:
    receiver.behaviour = accept
    gut = await gateway_factory(settings(receiver))
    ann = await send(gut, "m-1", ANN)
    bob = await send(gut, "m-2", BOB)
    await gut.admin.post(
        f"/admin/customers/{ann.customer_id}/identities", json={"identity": f"phone:{BOB}"}
    )
    await gut.admin.post(f"/admin/customers/{bob.customer_id}/unmerge")

    async def delivered() -> bool:
        listed = await (await gut.admin.get("/admin/deliveries?state=delivered")).json()
        return len(listed["deliveries"]) == 2

    await eventually(delivered)
    documents = [
        await (await gut.admin.get(path)).json()
        for path in (
            f"/admin/interactions/{ann.id}",
            "/admin/interactions",
            "/admin/deliveries",
            f"/admin/customers/{ann.customer_id}",
            f"/admin/customers/{ann.customer_id}/timeline",
            "/admin/merge-proposals?state=all",
        )
    ]
    documents.append(await (await gut.admin.delete(f"/admin/customers/{bob.customer_id}")).json())
    found = [pair for document in documents for pair in timestamps(document)]
    names = {name for name, value in found if value is not None}
    assert {"occurred_at", "received_at", "started_at", "finished_at"} <= names
    assert {"created_at", "requested_at", "undone_at"} <= names
    assert [p for p in found if p[1] is not None and not TIMESTAMP.fullmatch(p[1])] == []


async def test_after_a_replay_attempts_agree_with_the_attempt_log(seeded: Seeded) -> None:
    """`attempts` counts every attempt across replays; the log is numbered the same way."""
    await dead(seeded)
    first = await delivery(seeded)
    seeded.receiver.behaviour = accept
    replayed = await seeded.gut.admin.post(f"/admin/deliveries/{first['id']}/replay")
    assert await replayed.json() == {"replayed": 1}

    async def delivered() -> bool:
        return bool((await delivery(seeded))["state"] == "delivered")

    await eventually(delivered)
    shown = await delivery(seeded)
    numbers = [a["number"] for a in shown["attempt_log"]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert shown["attempts"] == len(numbers) == first["attempts"] + 1
    listed = await (await seeded.gut.admin.get("/admin/deliveries")).json()
    assert listed["deliveries"][0]["attempts"] == shown["attempts"]


ODD_VALUES = ["%FF", "%00", "%C3%28", "%F0%9F%98%80", "a%2Fb", "..", "%25", "x" * 2000, "-0"]
ODD_VALUES += ["9" * 30, "1e400", "NaN", "%EF%BF%BE", "%0D%0AX-Injected:%201"]
"""Odd ids and query values; two fit in one request line under aiohttp's 8 KiB limit."""


@pytest.mark.parametrize(
    "template",
    [
        "/admin/interactions/{v}",
        "/admin/customers/{v}",
        "/admin/customers/{v}/timeline",
        "/admin/customers/{v}/erasures",
        "/admin/customers?identity={v}",
        "/admin/customers?identity=phone:{v}",
        "/admin/interactions?channel={v}",
        "/admin/interactions?limit={v}",
        "/admin/deliveries?state={v}&backend={v}",
        "/admin/merge-proposals?state={v}",
        "/admin/channels?{v}={v}",
    ],
)
async def test_odd_path_and_query_values_never_get_a_5xx(seeded: Seeded, template: str) -> None:
    for value in ODD_VALUES:
        head = f"GET {template.format(v=value)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        status, body = await raw_request(seeded.gut, (head + "Connection: close\r\n\r\n").encode())
        assert 400 <= status < 500 or status == 200, (value, status, body[:200])
        assert body.startswith(b"{"), (value, body[:200])
