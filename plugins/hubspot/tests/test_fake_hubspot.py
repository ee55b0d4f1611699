"""The fake HubSpot refuses, and records as a problem, every request HubSpot would refuse."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import TOKEN, BackendMaker
from fake_hubspot import FakeHubSpot

NOTE = {"hs_timestamp": "2026-11-22T10:00:00.000Z", "hs_note_body": "hi", "gateway_key": "k1"}


def upsert(object_type: str, *props: dict[str, str], id_property: str = "gateway_key") -> Any:
    path = f"/crm/v3/objects/{object_type}/batch/upsert"
    inputs = [
        {"idProperty": id_property, "id": p.get(id_property, "x"), "properties": p} for p in props
    ]
    return path, {"inputs": inputs}


def associate(from_type: str, to_type: str, type_id: int) -> Any:
    kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
    body = {"inputs": [{"from": {"id": "1001"}, "to": {"id": "1002"}, "types": [kind]}]}
    return f"/crm/v4/associations/{from_type}/{to_type}/batch/create", body


WRONG = {
    "a property the object does not have": upsert("notes", NOTE | {"hs_call_title": "x"}),
    "an engagement without hs_timestamp": upsert(
        "notes", {"hs_note_body": "hi", "gateway_key": "k2"}
    ),
    "an enum value HubSpot does not define": upsert(
        "communications",
        {
            "hs_timestamp": "1700000000000",
            "hs_communication_logged_from": "CRM",
            "hs_communication_channel_type": "TELEGRAM",
            "gateway_key": "k3",
        },
    ),
    "an idProperty that is not unique": upsert("notes", NOTE, id_property="hs_note_body"),
    "a batch over 100 inputs": upsert(
        "notes", *({**NOTE, "gateway_key": f"k{n}"} for n in range(101))
    ),
    "an association type not valid for the pair": associate("notes", "contacts", 194),
    "a unique-value conflict": (
        "/crm/v3/objects/notes/batch/update",
        {"inputs": [{"id": "1002", "properties": {"gateway_key": "k1"}}]},
    ),
}


async def post(hubspot: FakeHubSpot, path: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(hubspot.url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


@pytest.mark.parametrize("wrong", sorted(WRONG))
async def test_a_wrong_request_is_refused_and_fails_the_test(
    hubspot: FakeHubSpot, make_backend: BackendMaker, wrong: str
) -> None:
    await make_backend()  # creates the custom properties
    hubspot.seed("contacts", {"email": "a@example.com"})  # 1001
    hubspot.seed("notes", dict(NOTE))  # 1002 holds gateway_key k1
    hubspot.seed("notes", {**NOTE, "gateway_key": "k0"})  # 1003
    path, body = WRONG[wrong]
    if wrong == "a unique-value conflict":
        body["inputs"][0]["id"] = "1003"
    status, answer = await post(hubspot, path, body)
    assert status in (400, 409), answer
    assert answer["status"] == "error"
    assert answer["category"] in ("VALIDATION_ERROR", "CONFLICT")
    assert len(hubspot.problems) == 1, hubspot.problems
    with pytest.raises(AssertionError, match="problem"):
        hubspot.assert_ok()
    hubspot.problems.clear()


async def test_bad_auth_is_refused(hubspot: FakeHubSpot) -> None:
    url = hubspot.url + "/crm/v3/objects/contacts"
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, headers={"Authorization": "Bearer pat-wrong"}) as response,
    ):
        assert response.status == 401
    assert hubspot.problems == ["GET /crm/v3/objects/contacts: no valid bearer token"]
    hubspot.problems.clear()


async def test_search_is_eventually_consistent(
    hubspot: FakeHubSpot, make_backend: BackendMaker
) -> None:
    await make_backend()
    hubspot.search_lag_s = 60.0
    hubspot.seed("contacts", {"phone": "+15551230001"}, indexed=False)
    old = hubspot.seed("contacts", {"phone": "+15551230001"})
    body = {"filterGroups": [{"filters": [
        {"propertyName": "phone", "operator": "EQ", "value": "+15551230001"}]}]}  # fmt: skip
    _, found = await post(hubspot, "/crm/v3/objects/contacts/search", body)
    assert [r["id"] for r in found["results"]] == [old.id]
