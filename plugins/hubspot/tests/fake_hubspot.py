"""`FakeHubSpot`: the HubSpot endpoints the backend uses, as HubSpot documents them.

It keeps objects, properties, groups and associations in memory, answers in HubSpot's shapes
(batch answers with `results` / `errors`, 207 Multi-Status, HubSpot's error body, the
`X-HubSpot-RateLimit-*` headers) and `refuse()`s, failing the test, what HubSpot would refuse:
a property the object does not have, an enum value HubSpot does not define, an engagement without
`hs_timestamp`, an association type id not valid for the pair, a unique-value conflict, a batch
over 100 inputs, an `idProperty` that is not unique, more requests than the 10-second limit.
With `partial_batches=False` a batch write holding an input HubSpot refuses is answered 400 as a
whole, nothing of it written: HubSpot documents per-input (207) answers only for batch create.
Search is eventually consistent, like HubSpot's: an object is found `search_lag_s` after its
creation, so a backend that relies on search to avoid duplicates fails the tests.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson
from aiohttp import web

from gateway.testing import FakeCRM

BATCH_LIMIT: Final = 100
"""Inputs HubSpot takes in one batch request."""
ENGAGEMENTS: Final = ("communications", "calls", "emails", "notes")
DEFAULT_ASSOCIATIONS: Final = {
    ("communications", "contacts"): 81,
    ("calls", "contacts"): 194,
    ("emails", "contacts"): 198,
    ("notes", "contacts"): 202,
    ("communications", "tickets"): 87,
    ("calls", "tickets"): 220,
    ("emails", "tickets"): 224,
    ("notes", "tickets"): 228,
    ("tickets", "contacts"): 16,
}
"""HubSpot's unlabeled (default) association type ids, as its association docs list them."""
_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "hs_communication_channel_type": frozenset({"WHATS_APP", "LINKEDIN_MESSAGE", "SMS"}),
    "hs_communication_logged_from": frozenset({"CRM"}),
    "hs_call_direction": frozenset({"INBOUND", "OUTBOUND"}),
    "hs_call_status": frozenset(
        {
            "BUSY",
            "CALLING_CRM_USER",
            "CANCELED",
            "COMPLETED",
            "CONNECTING",
            "FAILED",
            "IN_PROGRESS",
            "NO_ANSWER",
            "QUEUED",
            "RINGING",
        }
    ),
    "hs_email_direction": frozenset({"EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"}),
    "hs_email_status": frozenset({"BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"}),
    "hs_pipeline": frozenset({"0"}),
    "hs_pipeline_stage": frozenset({"1", "2", "3", "4"}),
}
_COMMON: Final = ("hs_object_id", "hs_createdate", "hs_lastmodifieddate", "hubspot_owner_id")
_BUILT_IN: Final[Mapping[str, tuple[str, ...]]] = {
    "contacts": ("email", "phone", "mobilephone", "firstname", "lastname", "createdate",
                 "lastmodifieddate", "hs_merged_object_ids"),
    "communications": ("hs_timestamp", "hs_communication_channel_type",
                       "hs_communication_logged_from", "hs_communication_body"),
    "calls": ("hs_timestamp", "hs_call_body", "hs_call_direction", "hs_call_duration",
              "hs_call_from_number", "hs_call_to_number", "hs_call_recording_url",
              "hs_call_status", "hs_call_title"),
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_status", "hs_email_subject",
               "hs_email_text", "hs_email_html", "hs_email_headers"),
    "notes": ("hs_timestamp", "hs_note_body"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority",
                "createdate"),
}  # fmt: skip
_DEFAULT_GROUPS: Final = {
    "contacts": "contactinformation",
    "tickets": "ticketinformation",
    "communications": "communicationinformation",
    "calls": "callinformation",
    "emails": "emailinformation",
    "notes": "noteinformation",
}
_REQUIRED_ON_CREATE: Final[Mapping[str, tuple[str, ...]]] = {
    **dict.fromkeys(ENGAGEMENTS, ("hs_timestamp",)),
    "communications": ("hs_timestamp", "hs_communication_logged_from"),
    "tickets": ("subject", "hs_pipeline", "hs_pipeline_stage"),
}
_MAX_UNIQUE: Final = 10
REFUSED_ITEM: Final = "Property values were not valid: hs_timestamp is in the future"
"""HubSpot's refusal of an input of `refused_interactions`."""
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class RefusedError(Exception):
    """A request HubSpot would refuse: answered with `status`, recorded as a problem."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


@dataclass(slots=True)
class HubSpotObject:
    """One CRM record."""

    id: str
    properties: dict[str, str]
    created: float = field(default_factory=time.monotonic)

    def view(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Return the record as HubSpot's API shows it (only `names` if given)."""
        props = (
            self.properties
            if names is None
            else {n: self.properties.get(n) for n in names if n in self.properties}
        )
        return {"id": self.id, "properties": {**props, "hs_object_id": self.id}, "archived": False}


class FakeHubSpot(FakeCRM):
    """HubSpot's CRM v3 objects, properties and v4 associations APIs, in memory."""

    def __init__(
        self,
        *,
        token: str | None = None,
        limit_per_10s: int = 190,
        search_lag_s: float = 1.0,
        partial_batches: bool = True,
        strict: bool = False,
    ) -> None:
        super().__init__(token=token, strict=strict)
        self.limit_per_10s = limit_per_10s
        self.partial_batches = partial_batches
        self.search_lag_s = search_lag_s
        self.objects: dict[str, dict[str, HubSpotObject]] = {t: {} for t in _BUILT_IN}
        self.properties: dict[str, dict[str, dict[str, Any]]] = {
            t: {n: {"name": n, "type": "string", "hasUniqueValue": False} for n in names + _COMMON}
            for t, names in _BUILT_IN.items()
        }
        self.groups: dict[str, set[str]] = {t: {g} for t, g in _DEFAULT_GROUPS.items()}
        self.associations: set[tuple[str, str, str, str, int]] = set()
        self.merged: dict[str, str] = {}
        self.erased: list[str] = []
        self.refused_interactions: set[str] = set()
        """Interaction ids whose engagement write is answered as a validation error."""
        self._ids = itertools.count(1001)
        self._window: deque[float] = deque()

    # ---- what tests look at

    def of_type(self, object_type: str) -> list[HubSpotObject]:
        """Return the records of one object type, oldest first."""
        return list(self.objects[object_type].values())

    def engagements(self) -> list[tuple[str, HubSpotObject]]:
        """Return every engagement with its object type."""
        return [(t, o) for t in ENGAGEMENTS for o in self.of_type(t)]

    def seed(
        self, object_type: str, properties: dict[str, str], *, indexed: bool = True
    ) -> HubSpotObject:
        """Create a record as a HubSpot user would; `indexed`: long enough ago for search."""
        record = self._create(object_type, dict(properties))
        if indexed:
            record.created -= 3600.0
        return record

    def associated(self, from_type: str, from_id: str, to_type: str) -> set[str]:
        """Return the ids of `to_type` records associated to one record."""
        return {a[3] for a in self.associations if a[:3] == (from_type, from_id, to_type)}

    # ---- the server

    def error_body(self, status: int, message: str) -> Any:
        """Return HubSpot's error body."""
        category = {
            400: "VALIDATION_ERROR",
            401: "INVALID_AUTHENTICATION",
            403: "MISSING_SCOPES",
            404: "OBJECT_NOT_FOUND",
            409: "CONFLICT",
            429: "RATE_LIMITS",
        }.get(status, "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR")
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        if status == 429:
            body["policyName"] = "TEN_SECONDLY_ROLLING"
        return body

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the endpoints the backend uses."""
        o, p, a = "/crm/v3/objects/{type}", "/crm/v3/properties/{type}", "/crm/v4/associations"
        table = [
            ("GET", p + "/groups/{name}", self._get_group),
            ("POST", p + "/groups", self._create_group),
            ("POST", p + "/batch/read", self._read_properties),
            ("POST", p + "/batch/create", self._create_properties),
            ("GET", a + "/{from}/{to}/labels", self._labels),
            ("POST", a + "/{from}/{to}/batch/create", self._associate),
            ("POST", "/crm/v3/objects/contacts/search", self._search),
            ("POST", "/crm/v3/objects/contacts/merge", self._merge),
            ("POST", "/crm/v3/objects/contacts/gdpr-delete", self._gdpr_delete),
            ("POST", o + "/batch/read", self._batch_read),
            ("POST", o + "/batch/upsert", self._batch_upsert),
            ("POST", o + "/batch/update", self._batch_update),
            ("GET", o, self._list),
            ("GET", o + "/{id}", self._get),
        ]
        return [web.route(method, path, self._guarded(handler)) for method, path, handler in table]

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            now = time.monotonic()
            while self._window and self._window[0] <= now - 10:
                self._window.popleft()
            self._window.append(now)
            if len(self._window) > self.limit_per_10s:
                response = self.refuse(
                    f"{request.method} {request.path}: over the limit of "
                    f"{self.limit_per_10s} requests per 10 seconds",
                    status=429,
                )
            else:
                try:
                    object_type = request.match_info.get("type")
                    if object_type is not None and object_type not in self.objects:
                        raise RefusedError(f"unknown object type {object_type!r}", 404)
                    raw = await request.read()
                    body = orjson.loads(raw) if raw else None
                    response = await handler(request, body)
                except RefusedError as refused:
                    response = self.refuse(
                        f"{request.method} {request.path}: {refused}", status=refused.status
                    )
            remaining = max(0, self.limit_per_10s - len(self._window))
            response.headers.update(
                {
                    "X-HubSpot-RateLimit-Max": str(self.limit_per_10s),
                    "X-HubSpot-RateLimit-Remaining": str(remaining),
                    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
                }
            )
            return response

        return guarded

    # ---- properties and groups

    async def _get_group(self, request: web.Request, body: Any) -> web.Response:
        object_type, name = request.match_info["type"], request.match_info["name"]
        if name not in self.groups[object_type]:
            return self.json_response(self.error_body(404, f"group {name} not found"), status=404)
        return self.json_response({"name": name, "label": name, "displayOrder": -1})

    async def _create_group(self, request: web.Request, body: Any) -> web.Response:
        object_type = request.match_info["type"]
        name = _need(body, "name", str)
        _need(body, "label", str)
        if name in self.groups[object_type]:
            raise RefusedError(f"property group {name} already exists", 409)
        self.groups[object_type].add(name)
        return self.json_response({"name": name, "label": body["label"]}, status=201)

    async def _read_properties(self, request: web.Request, body: Any) -> web.Response:
        defined = self.properties[request.match_info["type"]]
        names = [_need(i, "name", str) for i in _inputs(body)]
        results = [defined[n] for n in names if n in defined]
        errors = [
            {"status": "error", "category": "OBJECT_NOT_FOUND", "message": f"{n} not found",
             "context": {"name": [n]}}
            for n in names if n not in defined
        ]  # fmt: skip
        return self._batch(results, errors)

    async def _create_properties(self, request: web.Request, body: Any) -> web.Response:
        object_type = request.match_info["type"]
        defined = self.properties[object_type]
        created = []
        for definition in _inputs(body):
            name = _need(definition, "name", str)
            for key in ("label", "type", "fieldType", "groupName"):
                _need(definition, key, str)
            if name in defined:
                raise RefusedError(f"property {name} already exists on {object_type}", 409)
            if (definition["type"], definition["fieldType"]) != ("string", "text"):
                raise RefusedError(f"{name}: the backend should only create string/text properties")
            if definition["groupName"] not in self.groups[object_type]:
                group = definition["groupName"]
                raise RefusedError(f"{name}: property group {group} does not exist")
            unique = sum(bool(d.get("hasUniqueValue")) for d in defined.values())
            if definition.get("hasUniqueValue") and unique >= _MAX_UNIQUE:
                raise RefusedError(f"{object_type} already has {_MAX_UNIQUE} unique properties")
            defined[name] = dict(definition)
            created.append(defined[name])
        return self._batch(created, [], status=201)

    # ---- associations

    async def _labels(self, request: web.Request, body: Any) -> web.Response:
        pair = (request.match_info["from"], request.match_info["to"])
        if pair not in DEFAULT_ASSOCIATIONS:
            raise RefusedError(f"no associations between {pair[0]} and {pair[1]}", 404)
        type_id = DEFAULT_ASSOCIATIONS[pair]
        results = [
            {"category": "USER_DEFINED", "typeId": 900 + type_id, "label": "VIP"},
            {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None},
        ]
        return self.json_response({"results": results})

    async def _associate(self, request: web.Request, body: Any) -> web.Response:
        from_type, to_type = request.match_info["from"], request.match_info["to"]
        results = []
        for entry in _inputs(body):
            from_id = str(_need(_need(entry, "from", dict), "id", str))
            to_id = str(_need(_need(entry, "to", dict), "id", str))
            for kind in _need(entry, "types", list):
                type_id = kind.get("associationTypeId")
                if kind.get("associationCategory") != "HUBSPOT_DEFINED" or type_id != (
                    DEFAULT_ASSOCIATIONS.get((from_type, to_type))
                ):
                    raise RefusedError(
                        f"association type {kind} is not valid from {from_type} to {to_type}"
                    )
                for object_type, object_id in ((from_type, from_id), (to_type, to_id)):
                    if self._find(object_type, object_id) is None:
                        raise RefusedError(f"{object_type} {object_id} does not exist")
                self.associations.add((from_type, from_id, to_type, to_id, type_id))
            results.append({"fromObjectTypeId": from_type, "fromObjectId": from_id,
                            "toObjectTypeId": to_type, "toObjectId": to_id})  # fmt: skip
        return self._batch(results, [], status=201)

    # ---- objects

    async def _batch_read(self, request: web.Request, body: Any) -> web.Response:
        object_type = request.match_info["type"]
        id_property = body.get("idProperty") if isinstance(body, dict) else None
        if id_property is not None:
            self._unique(object_type, id_property)
        names = body.get("properties") or None
        results, errors = [], []
        for entry in _inputs(body):
            wanted = str(_need(entry, "id", str))
            found = self._find(object_type, wanted, id_property)
            if found is None:
                errors.append(_not_found(wanted))
            else:
                results.append(found.view(names))
        return self._batch(results, errors)

    async def _batch_upsert(self, request: web.Request, body: Any) -> web.Response:
        object_type = request.match_info["type"]
        inputs = _inputs(body)
        if not self.partial_batches and any(self._refused(entry) for entry in inputs):
            return self.json_response(self.error_body(400, REFUSED_ITEM), status=400)
        results: list[Any] = []
        errors: list[Any] = []
        seen: set[str] = set()
        for entry in inputs:
            id_property = _need(entry, "idProperty", str)
            self._unique(object_type, id_property)
            value = _need(entry, "id", str)
            if value in seen:
                raise RefusedError(f"duplicate id {value!r} in one batch")
            seen.add(value)
            props = self._valid(object_type, _need(entry, "properties", dict))
            if self._refused(entry):
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": REFUSED_ITEM,
                        "context": {"objectWriteTraceId": [entry.get("objectWriteTraceId")]},
                    }
                )
                continue
            existing = self._find(object_type, value, id_property)
            if existing is None:
                props[id_property] = value
                self._require(object_type, props)
                existing = self._create(object_type, props)
                new = True
            else:
                self._update(object_type, existing, props)
                new = False
            results.append({**existing.view(), "new": new,
                            "objectWriteTraceId": entry.get("objectWriteTraceId")})  # fmt: skip
        return self._batch(results, errors)

    async def _batch_update(self, request: web.Request, body: Any) -> web.Response:
        object_type = request.match_info["type"]
        results, errors = [], []
        for entry in _inputs(body):
            id_property = entry.get("idProperty")
            if id_property is not None:
                self._unique(object_type, id_property)
            wanted = _need(entry, "id", str)
            props = self._valid(object_type, _need(entry, "properties", dict))
            existing = self._find(object_type, wanted, id_property)
            if existing is None:
                errors.append(_not_found(wanted))
                continue
            self._update(object_type, existing, props)
            results.append(existing.view())
        return self._batch(results, errors)

    async def _search(self, request: web.Request, body: Any) -> web.Response:
        visible = [
            o for o in self.of_type("contacts") if time.monotonic() - o.created >= self.search_lag_s
        ]
        matches: list[HubSpotObject] = []
        if body.get("limit", 10) > 200:
            raise RefusedError("search returns at most 200 results per page")
        for group in _need(body, "filterGroups", list):
            for contact in visible:
                if contact not in matches and all(
                    self._matches(contact, f) for f in _need(group, "filters", list)
                ):
                    matches.append(contact)
        names = body.get("properties")
        return self.json_response(
            {"total": len(matches), "results": [m.view(names) for m in matches]}
        )

    def _matches(self, contact: HubSpotObject, condition: Mapping[str, Any]) -> bool:
        name = _need(condition, "propertyName", str)
        if name not in self.properties["contacts"]:
            raise RefusedError(f"search filter on unknown property {name}")
        operator, value = condition.get("operator"), contact.properties.get(name)
        if operator == "EQ":
            return value == condition.get("value")
        if operator == "IN" and isinstance(condition.get("values"), list):
            if len(condition["values"]) > BATCH_LIMIT:
                raise RefusedError("an IN filter takes at most 100 values")
            return value in condition["values"]
        raise RefusedError(f"filter {condition} is not one the backend needs (EQ, IN with values)")

    async def _merge(self, request: web.Request, body: Any) -> web.Response:
        primary = self._find("contacts", _need(body, "primaryObjectId", str))
        merged = self._find("contacts", _need(body, "objectIdToMerge", str))
        if primary is None or merged is None:
            raise RefusedError("a contact to merge does not exist", 404)
        if primary is merged:
            raise RefusedError("the two contacts are already merged")
        for key, value in merged.properties.items():
            primary.properties.setdefault(key, value)
        moved = {a for a in self.associations if merged.id in (a[1], a[3])}
        self.associations -= moved
        for from_type, from_id, to_type, to_id, type_id in moved:
            from_id = primary.id if from_id == merged.id else from_id
            to_id = primary.id if to_id == merged.id else to_id
            self.associations.add((from_type, from_id, to_type, to_id, type_id))
        del self.objects["contacts"][merged.id]
        self.merged[merged.id] = primary.id
        return self.json_response(primary.view())

    async def _gdpr_delete(self, request: web.Request, body: Any) -> web.Response:
        contact = self._find("contacts", _need(body, "objectId", str))
        if contact is None:
            return self.json_response(self.error_body(404, "contact not found"), status=404)
        del self.objects["contacts"][contact.id]
        self.associations = {a for a in self.associations if contact.id not in (a[1], a[3])}
        self.erased.append(contact.id)
        return web.Response(status=204)

    async def _list(self, request: web.Request, body: Any) -> web.Response:
        limit = int(request.query.get("limit", "10"))
        listed = self.of_type(request.match_info["type"])[:limit]
        return self.json_response({"results": [o.view() for o in listed]})

    async def _get(self, request: web.Request, body: Any) -> web.Response:
        found = self._find(request.match_info["type"], request.match_info["id"])
        if found is None:
            return self.json_response(self.error_body(404, "not found"), status=404)
        return self.json_response(found.view())

    # ---- rules

    def _find(
        self, object_type: str, value: str, id_property: str | None = None
    ) -> HubSpotObject | None:
        records = self.objects[object_type]
        if id_property is None or id_property == "hs_object_id":
            if object_type == "contacts":
                value = self.merged.get(value, value)  # a merged id answers with the survivor
            return records.get(value)
        if id_property == "email":
            value = value.lower()
        return next((o for o in records.values() if o.properties.get(id_property) == value), None)

    def _unique(self, object_type: str, id_property: str) -> None:
        definition = self.properties[object_type].get(id_property)
        if definition is None:
            raise RefusedError(f"idProperty {id_property} does not exist on {object_type}")
        if not self._is_unique(object_type, id_property):
            raise RefusedError(f"idProperty {id_property} of {object_type} is not unique-valued")

    def _valid(self, object_type: str, props: Mapping[str, Any]) -> dict[str, str]:
        defined = self.properties[object_type]
        for name, value in props.items():
            if name not in defined:
                raise RefusedError(f"Property {name!r} does not exist on {object_type}")
            if not isinstance(value, str):
                raise RefusedError(f"{name}: property values are strings, got {value!r}")
            if name in _ENUMS and value not in _ENUMS[name]:
                raise RefusedError(f"{value!r} is not a valid option for {name}")
            if name == "hs_timestamp" and not (_ISO.match(value) or value.isdigit()):
                raise RefusedError(f"hs_timestamp {value!r} is neither ISO 8601 UTC nor epoch ms")
            if name == "hs_call_duration" and not value.isdigit():
                raise RefusedError(f"hs_call_duration {value!r} is not milliseconds")
            if name == "hs_email_headers":
                orjson.loads(value)
            if name == "email" and not _EMAIL.match(value):
                raise RefusedError(f"{value!r} is not a valid email address")
            if value == "":
                raise RefusedError(f"{name}: an empty value clears the property; send none instead")
        return {name: str(value) for name, value in props.items()}

    def _require(self, object_type: str, props: Mapping[str, str]) -> None:
        for name in _REQUIRED_ON_CREATE.get(object_type, ()):
            if name not in props:
                raise RefusedError(f"{object_type} needs {name} when created")
        if object_type == "communications" and props["hs_communication_logged_from"] != "CRM":
            raise RefusedError("hs_communication_logged_from must be CRM")

    def _refused(self, entry: Any) -> bool:
        """Whether the test made HubSpot refuse this input (`refused_interactions`)."""
        props = entry.get("properties") if isinstance(entry, dict) else None
        return isinstance(props, dict) and (
            props.get("gateway_interaction_id") in self.refused_interactions
        )

    def _create(self, object_type: str, props: dict[str, str]) -> HubSpotObject:
        self._check_unique(object_type, props, None)
        record = HubSpotObject(str(next(self._ids)), props)
        if object_type == "contacts" and "email" in props:
            props["email"] = props["email"].lower()
        props.setdefault("createdate", datetime.now().isoformat())
        self.objects[object_type][record.id] = record
        return record

    def _update(self, object_type: str, record: HubSpotObject, props: Mapping[str, str]) -> None:
        self._check_unique(object_type, props, record)
        record.properties.update(props)

    def _check_unique(
        self, object_type: str, props: Mapping[str, str], record: HubSpotObject | None
    ) -> None:
        for name, value in props.items():
            if not self._is_unique(object_type, name):
                continue
            for other in self.objects[object_type].values():
                if other is not record and other.properties.get(name) == value:
                    taken = f"{value!r} is already the {name} of {object_type} {other.id}"
                    raise RefusedError(taken, 409)

    def _is_unique(self, object_type: str, name: str) -> bool:
        """Whether HubSpot keeps `name` unique: a unique property, or a contact's e-mail."""
        unique = self.properties[object_type][name].get("hasUniqueValue")
        return bool(unique) or (object_type, name) == ("contacts", "email")

    def _batch(self, results: list[Any], errors: list[Any], *, status: int = 200) -> web.Response:
        document: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            document |= {"errors": errors, "numErrors": len(errors)}
        return self.json_response(document, status=207 if errors else status)


def _inputs(body: Any) -> list[Any]:
    inputs: list[Any] = _need(body, "inputs", list)
    if len(inputs) > BATCH_LIMIT:
        raise RefusedError(f"{len(inputs)} inputs in a batch; HubSpot takes {BATCH_LIMIT} at most")
    return inputs


def _need(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise RefusedError(f"{key!r} missing or not a {kind.__name__}")
    return body[key]


def _not_found(value: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some objects, they may be deleted or not exist: {value}",
        "context": {"ids": [value]},
    }
