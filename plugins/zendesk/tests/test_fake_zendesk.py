"""The fake Zendesk refuses, and records as a problem, every request the backend must not send."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from conftest import EMAIL, TOKEN
from fake_zendesk import FakeZendesk

BASIC = "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
KEY = {"Idempotency-Key": "conv_1/01KAXZ0000000000000000CVST"}


def ticket(**extra: Any) -> dict[str, Any]:
    return {"ticket": {"requester_id": 1001, "comment": {"body": "hi", "public": False}, **extra}}


WRONG: dict[str, tuple[str, str, Any, dict[str, str]]] = {
    "an unknown user field": (
        "POST", "/api/v2/users/create_or_update",
        {"user": {"name": "Jane", "external_id": "cus_1", "nickname": "J"}}, {},
    ),
    "a user with nothing to match on": (
        "POST", "/api/v2/users/create_or_update", {"user": {"name": "Jane"}}, {},
    ),
    "a role Zendesk does not define": (
        "POST", "/api/v2/users/create_or_update",
        {"user": {"name": "Jane", "external_id": "cus_1", "role": "customer"}}, {},
    ),
    "a body not under its root": ("POST", "/api/v2/users/create_or_update", {"name": "Jane"}, {}),
    "an identity type Zendesk does not define": (
        "POST", "/api/v2/users/1001/identities",
        {"identity": {"type": "phone", "value": "+15551230001"}}, {},
    ),
    "a phone identity that is not E.164": (
        "POST", "/api/v2/users/1001/identities",
        {"identity": {"type": "phone_number", "value": "555-0100"}}, {},
    ),
    "an identity without a value": (
        "POST", "/api/v2/users/1001/identities", {"identity": {"type": "email"}}, {},
    ),
    "a ticket create without an Idempotency-Key": ("POST", "/api/v2/tickets", ticket(), {}),
    "a ticket without a requester": (
        "POST", "/api/v2/tickets", {"ticket": {"comment": {"body": "hi"}}}, KEY,
    ),
    "a requester id of the wrong type": (
        "POST", "/api/v2/tickets", ticket(requester_id="1001"), KEY,
    ),
    "a public flag of the wrong type": (
        "POST", "/api/v2/tickets",
        {"ticket": {"requester_id": 1001, "comment": {"body": "hi", "public": "no"}}}, KEY,
    ),
    "an unknown comment field": (
        "POST", "/api/v2/tickets",
        {"ticket": {"requester_id": 1001, "comment": {"body": "hi", "private": True}}}, KEY,
    ),
    "a tag with a space": ("POST", "/api/v2/tickets", ticket(tags=["channel gateway"]), KEY),
    "a ticket listing without external_id": ("GET", "/api/v2/tickets", None, {}),
    "a comment without safe_update": (
        "PUT", "/api/v2/tickets/{ticket}", {"ticket": {"comment": {"body": "again"}}}, {},
    ),
    "a permanent deletion of a user not deleted first": (
        "DELETE", "/api/v2/deleted_users/1001", None, {},
    ),
}  # fmt: skip


async def send(
    zendesk: FakeZendesk,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    authorization: str | None = BASIC,
) -> tuple[int, Any]:
    sent = dict(headers or {})
    if authorization is not None:
        sent["Authorization"] = authorization
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, zendesk.url + path, json=body, headers=sent) as response,
    ):
        return response.status, await response.json()


async def seed(zendesk: FakeZendesk) -> int:
    """Add an end user and a ticket the agent requested; return the ticket's id."""
    zendesk.seed_user("Jane", ("email", "jane@example.com"), external_id="cus_1")
    status, _ = await send(
        zendesk, "POST", "/api/v2/tickets", ticket(external_id="conv_1"), headers=KEY
    )
    assert status == 201
    return max(zendesk.tickets)


@pytest.mark.parametrize("case", WRONG, ids=list(WRONG))
async def test_a_wrong_request_is_refused_and_recorded(zendesk: FakeZendesk, case: str) -> None:
    ticket_id = await seed(zendesk)
    method, path, body, headers = WRONG[case]
    status, answer = await send(zendesk, method, path.format(ticket=ticket_id), body, headers)
    assert 400 <= status < 500, (status, answer)
    assert "error" in answer
    assert len(zendesk.problems) == 1, zendesk.problems
    assert "no such" not in zendesk.problems[0], "refused for the wrong reason"
    zendesk.problems.clear()


async def test_an_idempotency_key_replayed_with_another_body_is_refused(
    zendesk: FakeZendesk,
) -> None:
    await seed(zendesk)
    status, answer = await send(
        zendesk, "POST", "/api/v2/tickets", ticket(external_id="conv_1"), headers=KEY
    )
    assert status == 201  # the same body again: the first answer, no second ticket
    assert len(zendesk.tickets) == 1
    status, answer = await send(
        zendesk, "POST", "/api/v2/tickets", ticket(external_id="conv_2"), headers=KEY
    )
    assert (status, answer["error"]) == (400, "IdempotentRequestError")
    assert answer["description"] == "Request parameters don't match the given idempotency key"
    assert zendesk.problems == [
        "Idempotency-Key 'conv_1/01KAXZ0000000000000000CVST' replayed with another body"
    ]
    zendesk.problems.clear()


async def test_wrong_credentials_are_refused(zendesk: FakeZendesk) -> None:
    for authorization in (
        None,
        f"Bearer {TOKEN}",
        "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode(),  # no "/token"
    ):
        status, answer = await send(
            zendesk, "GET", "/api/v2/tickets?external_id=x", authorization=authorization
        )
        assert (status, answer["error"]) == (401, "Couldn't authenticate you")
    assert len(zendesk.problems) == 3
    zendesk.problems.clear()


async def test_me_without_credentials_is_the_anonymous_user(zendesk: FakeZendesk) -> None:
    status, answer = await send(zendesk, "GET", "/api/v2/users/me", authorization=None)
    assert (status, answer["user"]["id"]) == (200, None)
    assert zendesk.problems == []


async def test_a_stale_safe_update_is_a_conflict(zendesk: FakeZendesk) -> None:
    await seed(zendesk)
    [created] = zendesk.tickets.values()
    update = {"comment": {"body": "x"}, "safe_update": True, "updated_stamp": created.updated_at}
    assert (await send(zendesk, "PUT", f"/api/v2/tickets/{created.id}", {"ticket": update}))[
        0
    ] == 200
    status, answer = await send(zendesk, "PUT", f"/api/v2/tickets/{created.id}", {"ticket": update})
    assert (status, answer["error"]) == (409, "UpdateConflict")
    assert len(created.comments) == 2
    assert zendesk.problems == []
