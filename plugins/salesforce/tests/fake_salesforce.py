"""`FakeSalesforce`: the Salesforce endpoints the backend uses, as Salesforce documents them.

The OAuth 2.0 client-credentials token endpoint (form-encoded, client id and secret checked,
`invalid_client` for wrong ones), the describe API, SOQL queries of the form the backend sends
(`SELECT ... FROM X WHERE F IN (...)` or `WHERE F = '...'`, with `nextRecordsUrl` paging),
sObject Collections upsert by an external-id field, update and delete, single-record delete and
`/limits`. Answers carry `Sforce-Limit-Info`. Errors are Salesforce's JSON arrays
(`[{"message", "errorCode", "fields"}]`; per record `{"statusCode", "message", "fields"}`).

It `refuse()`s, failing the test, what Salesforce would refuse: a token it never issued, another
API version, an unknown field (`INVALID_FIELD`), a value outside a restricted picklist, a string
longer than its field, a wrong type (int, date, e-mail, id), a reference to a record that does not
exist, a required field missing on create (`LastName`), a field that cannot be updated
(`TaskSubtype`) sent on update, a record without `attributes.type` or with an `Id` in an upsert,
more than 200 records, an upsert on a field that is not an External ID. `expire_tokens()` makes
every issued token answer 401 `INVALID_SESSION_ID`, as an expired session does.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final
from urllib.parse import parse_qs

import orjson
from aiohttp import web

from gateway.testing import FakeCRM

API_VERSION: Final = "v66.0"
COLLECTION_LIMIT: Final = 200
PREFIXES: Final = {"Contact": "003", "Task": "00T", "Case": "500", "User": "005"}
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'")
_SOQL = re.compile(
    r"^SELECT ([\w, ]+) FROM (\w+) WHERE (\w+) (?:IN \(((?:'(?:[^'\\]|\\.)*',?)+)\)"
    r"|= ('(?:[^'\\]|\\.)*'))$"
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field as describe reports it, and what Salesforce checks on a write."""

    type: str
    length: int = 0
    external_id: bool = False
    unique: bool = False
    createable: bool = True
    updateable: bool = True
    required: bool = False
    picklist: tuple[str, ...] = ()
    default: str | None = None
    reference: str | None = None

    def describe(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": self.type,
            "length": self.length,
            "externalId": self.external_id,
            "unique": self.unique,
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": not self.required,
            "defaultedOnCreate": self.default is not None,
            "referenceTo": [self.reference] if self.reference else [],
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": v == self.default}
                for v in self.picklist
            ],
        }


def _text(length: int) -> Field:
    return Field("string", length)


_KEY = Field("string", 255, external_id=True, unique=True)
_OWNER = Field("reference", 18, reference="User")
SCHEMA: Final[Mapping[str, Mapping[str, Field]]] = {
    "Contact": {
        "FirstName": _text(40),
        "LastName": Field("string", 80, required=True),
        "Email": Field("email", 80),
        "Phone": Field("phone", 40),
        "MobilePhone": Field("phone", 40),
        "OwnerId": _OWNER,
        "Gateway_Customer_Id__c": _KEY,
    },
    "Task": {
        "Subject": Field("combobox", 255),
        "Description": Field("textarea", 32000),
        "ActivityDate": Field("date"),
        "Status": Field("picklist", 40, required=True, default="Not Started", picklist=(
            "Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")),
        "Priority": Field("picklist", 40, required=True, default="Normal",
                          picklist=("High", "Normal", "Low")),
        "TaskSubtype": Field("picklist", 40, updateable=False, picklist=(
            "Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")),
        "CallType": Field("picklist", 40, picklist=("Internal", "Inbound", "Outbound")),
        "CallDurationInSeconds": Field("int"),
        "CallObject": _text(255),
        "WhoId": Field("reference", 18, reference="Contact"),
        "WhatId": Field("reference", 18, reference="Case"),
        "OwnerId": _OWNER,
        "Gateway_Interaction_Id__c": _KEY,
        "Gateway_Delivery_Status__c": _text(255),
    },
    "Case": {
        "Subject": _text(255),
        "Description": Field("textarea", 32000),
        "Origin": Field("picklist", 40, picklist=("Phone", "Email", "Web")),
        "Status": Field("picklist", 40, required=True, default="New",
                        picklist=("New", "Working", "Escalated", "Closed")),
        "ContactId": Field("reference", 18, reference="Contact"),
        "OwnerId": _OWNER,
        "Gateway_Conversation_Id__c": _KEY,
    },
}  # fmt: skip
"""The fields the fake org has (and the run-as user sees), as describe would list them."""


_ERROR_CODES: Final = {
    401: "INVALID_SESSION_ID",
    403: "API_DISABLED_FOR_ORG",
    404: "NOT_FOUND",
    500: "UNKNOWN_EXCEPTION",
    503: "SERVER_UNAVAILABLE",
}
"""The `errorCode` of an injected fault, by status."""


class _RefusedError(Exception):
    """A write Salesforce refuses: its status, error code and message."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.fields = code, message, list(fields)


class FakeSalesforce(FakeCRM):
    """A fake Salesforce org; `records[SObject][Id]` holds what the backend wrote."""

    def __init__(
        self,
        *,
        client_id: str = "3MVG9-fake-consumer-key",
        client_secret: str = "fake-consumer-secret",
        page_size: int = 2000,
        daily_limit: int = 100_000,
    ) -> None:
        super().__init__(token=None)
        self.client_id = client_id
        self.client_secret = client_secret
        self.page_size = page_size
        self.daily_limit = daily_limit
        self.schema: dict[str, dict[str, Field]] = {o: dict(f) for o, f in SCHEMA.items()}
        self.refused_keys: set[str] = set()
        """External-id values whose upsert fails a validation rule (the test's doing)."""
        self.records: dict[str, dict[str, dict[str, Any]]] = {o: {} for o in self.schema}
        self.tokens: set[str] = set()
        self.expired: set[str] = set()
        self.api_calls = 0
        self._ids = itertools.count(1)
        self._cursors: dict[str, list[dict[str, Any]]] = {}

    # -- test helpers --------------------------------------------------------------------------

    def of_type(self, sobject: str) -> list[dict[str, Any]]:
        """Return the records of `sobject`, oldest first."""
        return list(self.records[sobject].values())

    def expire_tokens(self) -> None:
        """Make every token issued so far answer 401 `INVALID_SESSION_ID` from now on."""
        self.expired |= self.tokens
        self.tokens.clear()

    def drop_field(self, sobject: str, name: str) -> None:
        """Remove a field from the org (as if never created, or hidden from the run-as user)."""
        del self.schema[sobject][name]

    def change_field(self, sobject: str, name: str, **changes: Any) -> None:
        """Change what describe says of a field (e.g. `external_id=False`)."""
        self.schema[sobject][name] = replace(self.schema[sobject][name], **changes)

    def add(self, sobject: str, **fields: Any) -> str:
        """Create a record directly (as a person would in Salesforce); return its id."""
        record_id = self._new_id(sobject)
        self.records[sobject][record_id] = {"Id": record_id, **fields}
        return record_id

    # -- FakeCRM -------------------------------------------------------------------------------

    def error_body(self, status: int, message: str) -> Any:
        code = _ERROR_CODES.get(status, "INVALID_FIELD")
        return [{"message": message, "errorCode": code}]

    def json_response(self, document: Any, *, status: int = 200) -> web.Response:
        response = super().json_response(document, status=status)
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_calls}/{self.daily_limit}"
        return response

    def routes(self) -> Iterable[web.RouteDef]:
        data = "/services/data/{version}"
        return [
            web.post("/services/oauth2/token", self._token),
            web.get(data + "/sobjects/{sobject}/describe", self._describe),
            web.get(data + "/query", self._query),
            web.get(data + "/query/{cursor}", self._next_page),
            web.patch(data + "/composite/sobjects/{sobject}/{key}", self._upsert),
            web.patch(data + "/composite/sobjects", self._update),
            web.delete(data + "/composite/sobjects", self._delete_many),
            web.delete(data + "/sobjects/{sobject}/{id}", self._delete_one),
            web.get(data + "/limits", self._limits),
        ]

    def _refuse(self, code: str, message: str, status: int = 400) -> web.Response:
        self.problems.append(f"{code}: {message}")
        return self.json_response([{"message": message, "errorCode": code}], status=status)

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._refuse("invalid_request", "the token request must be form-encoded")
        form = {k: v[0] for k, v in parse_qs((await request.read()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            self.problems.append(f"token request with grant_type {form.get('grant_type')!r}")
            return self.json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                status=400,
            )
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return self.json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"},
                status=400,
            )
        token = f"00D5g000004fake!{secrets.token_urlsafe(24)}"
        self.tokens.add(token)
        return self.json_response(
            {
                "access_token": token,
                "signature": secrets.token_urlsafe(16),
                "instance_url": self.url,
                "id": f"{self.url}/id/00D5g000004fake/0055g00000fake",
                "token_type": "Bearer",
                "issued_at": "1764756000000",
            }
        )

    def _session(self, request: web.Request) -> web.Response | None:
        """Check the bearer token and the version; return the error answer, if any."""
        self.api_calls += 1
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            if token in self.expired:
                return self.json_response(
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                    status=401,
                )
            return self._refuse("INVALID_SESSION_ID", "a token Salesforce never issued", 401)
        if request.match_info["version"] != API_VERSION:
            return self._refuse("NOT_FOUND", f"API version {request.match_info['version']}", 404)
        return None

    def _sobject(self, name: str) -> dict[str, Field]:
        if name not in self.schema:
            raise _RefusedError("NOT_FOUND", f"The requested resource does not exist: {name}")
        return self.schema[name]

    async def _describe(self, request: web.Request) -> web.Response:
        if (error := self._session(request)) is not None:
            return error
        sobject = request.match_info["sobject"]
        if sobject not in self.schema:
            return self._refuse("NOT_FOUND", f"no sObject {sobject}", 404)
        fields = [Field("id", 18, createable=False, updateable=False).describe("Id")]
        fields += [spec.describe(name) for name, spec in self.schema[sobject].items()]
        return self.json_response({"name": sobject, "fields": fields})

    async def _query(self, request: web.Request) -> web.Response:
        if (error := self._session(request)) is not None:
            return error
        soql = request.query.get("q", "")
        match = _SOQL.match(soql)
        if match is None:
            return self._refuse("MALFORMED_QUERY", f"the fake reads no such query: {soql!r}")
        selected = [f.strip() for f in match[1].split(",")]
        sobject, where = match[2], match[3]
        known = {"Id", *self.schema.get(sobject, {})}
        unknown = [f for f in [*selected, where] if f not in known]
        if sobject not in self.schema or unknown:
            return self._refuse("INVALID_FIELD", f"No such column {unknown} on entity {sobject}")
        literals = _LITERAL.findall(match[4] or match[5])
        values = {re.sub(r"\\(.)", _unescape, v) for v in literals}
        rows = [
            {"attributes": {"type": sobject, "url": self._url(sobject, r["Id"])},
             **{f: r.get(f) for f in selected}}
            for r in self.records[sobject].values()
            if r.get(where) in values
        ]  # fmt: skip
        return self._page(rows)

    async def _next_page(self, request: web.Request) -> web.Response:
        if (error := self._session(request)) is not None:
            return error
        rows = self._cursors.pop(request.match_info["cursor"], None)
        if rows is None:
            return self._refuse("INVALID_QUERY_LOCATOR", "no such query cursor")
        return self._page(rows)

    def _page(self, rows: list[dict[str, Any]]) -> web.Response:
        page, rest = rows[: self.page_size], rows[self.page_size :]
        body: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": page}
        if rest:
            cursor = f"01gfake{next(self._ids)}-{self.page_size}"
            self._cursors[cursor] = rest
            body["nextRecordsUrl"] = f"/services/data/{API_VERSION}/query/{cursor}"
        return self.json_response(body)

    async def _records(self, request: web.Request) -> list[dict[str, Any]] | web.Response:
        """Return the `records` of an sObject Collections body, or the refusal."""
        if (error := self._session(request)) is not None:
            return error
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return self._refuse("JSON_PARSER_ERROR", "the body is not JSON")
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return self._refuse("INVALID_INPUT", "records must be a non-empty list")
        if len(records) > COLLECTION_LIMIT:
            return self._refuse("EXCEEDED_ID_LIMIT", f"{len(records)} records: at most 200")
        if not isinstance(body.get("allOrNone", False), bool):
            return self._refuse("INVALID_INPUT", "allOrNone must be a boolean")
        for record in records:
            sobject = (
                (record.get("attributes") or {}).get("type") if isinstance(record, dict) else None
            )
            if sobject not in self.schema:
                return self._refuse(
                    "INVALID_TYPE", f"record without a valid attributes.type: {record}"
                )
            unknown = set(record) - {"attributes", "id", "Id"} - set(self.schema[sobject])
            if unknown:
                return self._refuse(
                    "INVALID_FIELD",
                    f"No such column '{sorted(unknown)[0]}' on sobject of type {sobject}",
                )
        return records

    async def _upsert(self, request: web.Request) -> web.Response:
        records = await self._records(request)
        if isinstance(records, web.Response):
            return records
        sobject, key = request.match_info["sobject"], request.match_info["key"]
        spec = self.schema.get(sobject, {}).get(key)
        if spec is None or not spec.external_id:
            return self._refuse("INVALID_FIELD", f"{sobject}.{key} is not an External ID field")
        results = []
        for record in records:
            if record["attributes"]["type"] != sobject or "Id" in record or "id" in record:
                return self._refuse("INVALID_INPUT", f"upsert of {sobject} got {record}")
            value = record.get(key)
            if not isinstance(value, str) or not value:
                return self._refuse("MISSING_ARGUMENT", f"record without {key}: {record}")
            matches = [r for r in self.records[sobject].values() if r.get(key) == value]
            results.append(self._write(sobject, record, matches[0] if matches else None))
        return self.json_response(results)

    async def _update(self, request: web.Request) -> web.Response:
        records = await self._records(request)
        if isinstance(records, web.Response):
            return records
        results = []
        for record in records:
            sobject = record["attributes"]["type"]
            current = self.records[sobject].get(str(record.get("id")))
            if current is None:
                results.append(_failure("ENTITY_IS_DELETED", "entity is deleted"))
                continue
            results.append(self._write(sobject, record, current))
        return self.json_response(results)

    def _write(self, sobject: str, record: dict[str, Any], current: dict[str, Any] | None) -> Any:
        """Create or update one record; return its per-record result."""
        fields = {k: v for k, v in record.items() if k not in ("attributes", "id", "Id")}
        keys = [n for n, f in self.schema[sobject].items() if f.external_id]
        if any(fields.get(key) in self.refused_keys for key in keys):
            return _failure("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Rejected by a validation rule")
        try:
            for name, value in fields.items():
                self._check(sobject, name, value, creating=current is None)
            if current is None:
                for name, spec in self.schema[sobject].items():
                    if spec.required and spec.default is None and not fields.get(name):
                        raise _RefusedError(
                            "REQUIRED_FIELD_MISSING",
                            f"Required fields are missing: [{name}]",
                            [name],
                        )
        except _RefusedError as refused:
            self.problems.append(f"{sobject} {refused.code}: {refused.message}")
            return _failure(refused.code, refused.message, refused.fields)
        for name, spec in self.schema[sobject].items():
            if spec.unique and fields.get(name) is not None:
                clash = [r for r in self.records[sobject].values()
                         if r.get(name) == fields[name] and r is not current]  # fmt: skip
                if clash:
                    return _failure("DUPLICATE_VALUE", f"duplicate value found: {name}", [name])
        if current is None:
            record_id = self._new_id(sobject)
            defaults = {n: s.default for n, s in self.schema[sobject].items() if s.default}
            self.records[sobject][record_id] = {"Id": record_id, **defaults, **fields}
            return {"id": record_id, "success": True, "errors": [], "created": True}
        current.update(fields)
        return {"id": current["Id"], "success": True, "errors": [], "created": False}

    def _check(self, sobject: str, name: str, value: Any, *, creating: bool) -> None:
        spec = self.schema[sobject][name]
        if not (spec.createable if creating else spec.updateable):
            raise _RefusedError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {name}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                [name],
            )
        if value is None:
            if spec.required:
                raise _RefusedError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
            return
        if spec.type == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _RefusedError(
                    "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not an integer", [name]
                )
            return
        if not isinstance(value, str):
            raise _RefusedError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: not a string: {value!r}", [name]
            )
        if spec.length and len(value) > spec.length:
            raise _RefusedError(
                "STRING_TOO_LONG", f"{name}: data value too large: {value[:40]}", [name]
            )
        if spec.type == "picklist" and value not in spec.picklist:
            raise _RefusedError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"bad value for restricted picklist field: {value}",
                [name],
            )
        if spec.type == "date" and not _DATE.match(value):
            raise _RefusedError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{name}: value not of required type: {value}",
                [name],
            )
        if spec.type == "email" and not _EMAIL.match(value):
            raise _RefusedError(
                "INVALID_EMAIL_ADDRESS", f"{name}: invalid email address: {value}", [name]
            )
        if spec.type == "reference":
            if not _ID.match(value):
                raise _RefusedError(
                    "MALFORMED_ID", f"{name}: id value of incorrect type: {value}", [name]
                )
            target = spec.reference or ""
            if target != "User" and value not in self.records.get(target, {}):
                raise _RefusedError(
                    "INVALID_CROSS_REFERENCE_KEY", f"{name}: invalid cross reference id", [name]
                )

    async def _delete_many(self, request: web.Request) -> web.Response:
        if (error := self._session(request)) is not None:
            return error
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids or len(ids) > COLLECTION_LIMIT:
            return self._refuse("INVALID_INPUT", f"{len(ids)} ids: 1 to 200 allowed")
        results = []
        for record_id in ids:
            sobject = next((o for o, rs in self.records.items() if record_id in rs), None)
            if sobject is None:
                results.append(
                    {**_failure("ENTITY_IS_DELETED", "entity is deleted"), "id": record_id}
                )
            else:
                del self.records[sobject][record_id]
                results.append({"id": record_id, "success": True, "errors": []})
        return self.json_response(results)

    async def _delete_one(self, request: web.Request) -> web.StreamResponse:
        if (error := self._session(request)) is not None:
            return error
        sobject, record_id = request.match_info["sobject"], request.match_info["id"]
        if self.records.get(sobject, {}).pop(record_id, None) is None:
            return self.json_response(
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
                status=404,
            )
        return web.Response(
            status=204,
            headers={"Sforce-Limit-Info": f"api-usage={self.api_calls}/{self.daily_limit}"},
        )

    async def _limits(self, request: web.Request) -> web.Response:
        if (error := self._session(request)) is not None:
            return error
        remaining = self.daily_limit - self.api_calls
        return self.json_response(
            {"DailyApiRequests": {"Max": self.daily_limit, "Remaining": remaining}}
        )

    def _new_id(self, sobject: str) -> str:
        return f"{PREFIXES[sobject]}5g{next(self._ids):010d}AAA"

    def _url(self, sobject: str, record_id: str) -> str:
        return f"/services/data/{API_VERSION}/sobjects/{sobject}/{record_id}"


def _unescape(match: re.Match[str]) -> str:
    """Undo one SOQL escape sequence (`\\n`, `\\'`, `\\\\`, ...)."""
    return {"n": "\n", "r": "\r", "t": "\t"}.get(match[1], match[1])


def _failure(code: str, message: str, fields: Iterable[str] = ()) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": list(fields)}],
    }
