"""The fake org refuses, as Salesforce would and failing the test, every wrong request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from conftest import CLIENT_ID, CLIENT_SECRET
from fake_salesforce import API_VERSION, FakeSalesforce

DATA = f"/services/data/{API_VERSION}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSalesforce]:
    org = FakeSalesforce(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    async with org:
        yield org


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def token(fake: FakeSalesforce, http: aiohttp.ClientSession, **form: str) -> Any:
    body = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, **form}  # fmt: skip
    async with http.post(f"{fake.url}/services/oauth2/token", data=body) as response:
        return response.status, await response.json()


async def call(
    fake: FakeSalesforce, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    _, issued = await token(fake, http)
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    async with http.request(method, fake.url + path, headers=headers, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def upsert(
    fake: FakeSalesforce, http: aiohttp.ClientSession, sobject: str, key: str, *records: Any
) -> tuple[int, Any]:
    body = {"allOrNone": False, "records": list(records)}
    return await call(fake, http, "PATCH", f"{DATA}/composite/sobjects/{sobject}/{key}", json=body)


async def test_the_token_endpoint_checks_the_client_and_the_form(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    status, body = await token(fake, http, client_secret="wrong")
    assert (status, body["error"]) == (400, "invalid_client")
    assert fake.problems == []  # wrong credentials are the caller's problem, not a wrong request
    status, _ = await token(fake, http, grant_type="password")
    assert status == 400
    async with http.post(f"{fake.url}/services/oauth2/token", json={"a": 1}) as response:
        assert response.status == 400
    assert len(fake.problems) == 2


async def test_a_token_never_issued_and_another_version_are_refused(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": "Bearer 00Dmade-up"}
    async with http.get(f"{fake.url}{DATA}/limits", headers=headers) as response:
        assert response.status == 401
    status, _ = await call(fake, http, "GET", "/services/data/v59.0/limits")
    assert status == 404
    assert len(fake.problems) == 2


async def test_an_expired_token_answers_invalid_session_id_without_a_problem(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    _, issued = await token(fake, http)
    fake.expire_tokens()
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    async with http.get(f"{fake.url}{DATA}/limits", headers=headers) as response:
        assert response.status == 401
        assert (await response.json())[0]["errorCode"] == "INVALID_SESSION_ID"
    assert fake.problems == []


def task(**fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Task"}, "Gateway_Interaction_Id__c": "k1", **fields}


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (task(TaskSubtype="Chat"), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (task(CallType="inbound"), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (task(Status="Done"), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        (task(CallDurationInSeconds="63"), "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (task(ActivityDate="2026-12-03T10:00:00Z"), "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        (task(Subject="x" * 256), "STRING_TOO_LONG"),
        (task(WhoId="003000000000000AAA"), "INVALID_CROSS_REFERENCE_KEY"),
        (task(WhoId="jane"), "MALFORMED_ID"),
    ],
)
async def test_a_wrong_value_fails_its_record(
    fake: FakeSalesforce, http: aiohttp.ClientSession, record: dict[str, Any], code: str
) -> None:
    status, [result] = await upsert(fake, http, "Task", "Gateway_Interaction_Id__c", record)
    assert status == 200
    assert not result["success"]
    assert result["errors"][0]["statusCode"] == code
    assert len(fake.problems) == 1
    assert fake.of_type("Task") == []


async def test_a_contact_needs_a_last_name_and_task_subtype_cannot_be_updated(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    contact = {"attributes": {"type": "Contact"}, "Gateway_Customer_Id__c": "cus_1"}
    _, [result] = await upsert(fake, http, "Contact", "Gateway_Customer_Id__c", contact)
    assert result["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    _, [created] = await upsert(
        fake, http, "Task", "Gateway_Interaction_Id__c", task(TaskSubtype="Call")
    )
    assert created["created"]
    _, [again] = await upsert(
        fake, http, "Task", "Gateway_Interaction_Id__c", task(TaskSubtype="Call")
    )
    assert again["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert len(fake.problems) == 2


@pytest.mark.parametrize(
    ("key", "records"),
    [
        ("Gateway_Interaction_Id__c", [task(Colour__c="red")]),
        ("Gateway_Interaction_Id__c", [{"Gateway_Interaction_Id__c": "k1"}]),
        ("Gateway_Interaction_Id__c", [task(Id="00T000000000001AAA")]),
        (
            "Gateway_Interaction_Id__c",
            [task(Gateway_Interaction_Id__c=f"k{n}") for n in range(201)],
        ),
        ("Subject", [task()]),
    ],
    ids=["unknown field", "no attributes", "an Id", "201 records", "not an external id"],
)
async def test_a_malformed_collection_request_is_refused_whole(
    fake: FakeSalesforce, http: aiohttp.ClientSession, key: str, records: list[Any]
) -> None:
    status, _ = await upsert(fake, http, "Task", key, *records)
    assert status == 400
    assert len(fake.problems) == 1


async def test_queries_of_another_shape_or_unknown_fields_are_refused(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    for soql in ("SELECT Id FROM Task", "SELECT Id, Colour__c FROM Task WHERE Id IN ('1')"):
        status, _ = await call(fake, http, "GET", f"{DATA}/query", params={"q": soql})
        assert status == 400
    assert len(fake.problems) == 2


async def test_queries_unescape_literals_and_page(
    fake: FakeSalesforce, http: aiohttp.ClientSession
) -> None:
    fake.page_size = 1
    for key in ("it's", "a\\b", "other"):
        fake.add("Task", Gateway_Interaction_Id__c=key)
    soql = r"SELECT Id FROM Task WHERE Gateway_Interaction_Id__c IN ('it\'s','a\\b')"
    _, first = await call(fake, http, "GET", f"{DATA}/query", params={"q": soql})
    assert (first["totalSize"], first["done"]) == (2, False)
    _, second = await call(fake, http, "GET", first["nextRecordsUrl"])
    assert second["done"]
    assert fake.problems == []
