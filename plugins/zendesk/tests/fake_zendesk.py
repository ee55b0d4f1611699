"""`FakeZendesk`: the Zendesk Support API endpoints the backend uses, as Zendesk documents them.

Users (with identities, merges, soft and permanent deletion), tickets and their comments live in
memory. Every request must carry Basic credentials `{email}/token:{api_token}` (Zendesk's API
token scheme); wrong ones are answered 401 `Couldn't authenticate you`, and `GET
/api/v2/users/me` without any answers the anonymous user, as Zendesk does. The fake `refuse()`s,
failing the test, what Zendesk would refuse and what would duplicate data: an unknown field, a
missing required one, a wrong type or enum value, a user `create_or_update` with nothing to match
on, an identity the user already has, a ticket without requester, an `Idempotency-Key` replayed
with another body (Zendesk's 400 `IdempotentRequestError`), a ticket create without a key, an
update of a closed ticket, a permanent deletion of a user not deleted first.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiohttp import web

from gateway.testing import FakeCRM

TICKET_STATUSES: Final = frozenset({"new", "open", "pending", "hold", "solved", "closed"})
IDENTITY_TYPES: Final = frozenset(
    {"email", "phone_number", "twitter", "facebook", "google", "agent_forwarding"}
)
ROLES: Final = frozenset({"end-user", "agent", "admin"})
MAX_COMMENTS: Final = 5000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_TAG = re.compile(r"^[^\s,]+$")
_Field = type | tuple[type, ...] | Callable[[Any], bool]


class RefusedError(Exception):
    """A request the backend should never send: answered with `status`, recorded as a problem."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class AnsweredError(Exception):
    """A refusal Zendesk makes of a well-formed request (not the backend's fault)."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(str(body))


def invalid(field_name: str, description: str, error: str = "InvalidValue") -> AnsweredError:
    """Return Zendesk's 422 `RecordInvalid` for one field."""
    return AnsweredError(
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {field_name: [{"description": description, "error": error}]},
        },
    )


@dataclass(slots=True)
class Comment:
    """One ticket comment."""

    id: int
    author_id: int
    body: str
    public: bool

    def view(self) -> dict[str, Any]:
        """Return the comment as `GET /api/v2/tickets/{id}/comments` lists it."""
        return {
            "id": self.id,
            "type": "Comment",
            "author_id": self.author_id,
            "body": self.body,
            "html_body": f"<p>{self.body}</p>",
            "plain_body": self.body,
            "public": self.public,
            "attachments": [],
            "metadata": {"system": {}, "custom": {}},
            "created_at": "2026-12-03T10:00:00Z",
        }


@dataclass(slots=True)
class Ticket:
    """One ticket with its comments."""

    id: int
    requester_id: int
    subject: str
    external_id: str | None
    tags: list[str]
    status: str = "new"
    group_id: int | None = None
    brand_id: int | None = None
    followup_of: int | None = None
    comments: list[Comment] = field(default_factory=list)
    updated_at: str = ""

    def view(self) -> dict[str, Any]:
        """Return the ticket as Zendesk's API shows it."""
        return {
            "id": self.id,
            "url": f"/api/v2/tickets/{self.id}.json",
            "external_id": self.external_id,
            "requester_id": self.requester_id,
            "subject": self.subject,
            "description": self.comments[0].body if self.comments else "",
            "status": self.status,
            "tags": list(self.tags),
            "group_id": self.group_id,
            "brand_id": self.brand_id,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "updated_at": self.updated_at,
        }


@dataclass(slots=True)
class User:
    """One Zendesk user with its identities."""

    id: int
    name: str
    role: str = "end-user"
    external_id: str | None = None
    identities: list[tuple[str, str]] = field(default_factory=list)
    active: bool = True

    def view(self) -> dict[str, Any]:
        """Return the user as Zendesk's API shows it."""
        emails = [v for t, v in self.identities if t == "email"]
        phones = [v for t, v in self.identities if t == "phone_number"]
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "external_id": self.external_id,
            "email": emails[0] if emails else None,
            "phone": phones[0] if phones else None,
            "active": self.active,
        }


class FakeZendesk(FakeCRM):
    """Zendesk Support's users, identities, tickets and ticket comments APIs, in memory."""

    def __init__(self, *, email: str, api_token: str, strict: bool = False) -> None:
        super().__init__(strict=strict)
        self.email = email
        self.api_token = api_token
        self.users: dict[int, User] = {}
        self.deleted_users: dict[int, User] = {}
        self.purged: list[int] = []
        self.tickets: dict[int, Ticket] = {}
        self.groups: set[int] = {360001}
        self.brands: set[int] = {360002}
        self.refused_interactions: set[str] = set()
        """Interaction ids whose comment is answered 422 (the item the test wants refused)."""
        self.anonymous = False
        """Answer `GET /api/v2/users/me` with the anonymous user even to good credentials."""
        self.lose_answers = 0
        """Drop the connection of the next ticket writes (creates and comments) after the write:
        the worst a retry meets, a write that landed and an answer that did not."""
        self.unlisted = False
        """Leave every ticket out of `GET /api/v2/tickets?external_id=` (a lagging list)."""
        self._keys: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._ids = itertools.count(1001)
        self._clock = itertools.count(36000)
        self.agent = self._add_user(User(next(self._ids), "Support Agent", "admin"))
        self.agent.identities.append(("email", email))

    # ---- what tests look at

    def end_users(self) -> list[User]:
        """Return the active end users, oldest first."""
        return [u for u in self.users.values() if u.role == "end-user"]

    def all_comments(self) -> list[Comment]:
        """Return every comment of every ticket."""
        return [c for t in self.tickets.values() for c in t.comments]

    def touch(self, ticket: Ticket) -> None:
        """Record an update of the ticket (as an agent's would): a new `updated_at`."""
        seconds = next(self._clock)
        ticket.updated_at = (
            f"2026-12-03T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
        )

    def seed_user(
        self, name: str, *identities: tuple[str, str], external_id: str | None = None
    ) -> User:
        """Create an end user as a Zendesk agent would."""
        return self._add_user(
            User(next(self._ids), name, external_id=external_id, identities=list(identities))
        )

    # ---- the server

    def error_body(self, status: int, message: str) -> Any:
        """Return Zendesk's error body for `status`."""
        titles = {
            400: "InvalidRequest",
            401: "Couldn't authenticate you",
            403: "Forbidden",
            404: "RecordNotFound",
            409: "Conflict",
            422: "RecordInvalid",
            429: "TooManyRequests",
        }
        return {"error": titles.get(status, "InternalServerError"), "description": message}

    def routes(self) -> Iterable[web.RouteDef]:
        """Return the endpoints the backend uses."""
        users, tickets = "/api/v2/users", "/api/v2/tickets"
        table = [
            ("GET", users + "/me", self._me),
            ("POST", users + "/create_or_update", self._create_or_update),
            ("GET", users + "/search", self._search_users),
            ("GET", users + r"/{id:\d+}", self._show_user),
            ("PUT", users + r"/{id:\d+}", self._update_user),
            ("DELETE", users + r"/{id:\d+}", self._delete_user),
            ("GET", users + r"/{id:\d+}/identities", self._identities),
            ("POST", users + r"/{id:\d+}/identities", self._add_identity),
            ("PUT", users + r"/{id:\d+}/merge", self._merge),
            ("DELETE", r"/api/v2/deleted_users/{id:\d+}", self._purge),
            ("GET", tickets, self._list_tickets),
            ("POST", tickets, self._create_ticket),
            ("PUT", tickets + r"/{id:\d+}", self._update_ticket),
            ("GET", tickets + r"/{id:\d+}/comments", self._comments),
        ]
        return [web.route(method, path, self._guarded(handler)) for method, path, handler in table]

    def _guarded(self, handler: Any) -> Any:
        async def guarded(request: web.Request) -> web.StreamResponse:
            where = f"{request.method} {request.path}"
            try:
                anonymous = self._anonymous(request)
                if anonymous and not (
                    request.path == "/api/v2/users/me" and "Authorization" not in request.headers
                ):
                    raise RefusedError("no valid Basic {email}/token:{api_token} credentials", 401)
                raw = await request.read()
                body = _decode(raw, request.method)
                response: web.StreamResponse = await handler(request, body)
            except RefusedError as refused:
                response = self.refuse(f"{where}: {refused}", status=refused.status)
            except AnsweredError as answered:
                response = self.json_response(answered.body, status=answered.status)
            return response

        return guarded

    def _anonymous(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return True
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return True
        expected = f"{self.email}/token:{self.api_token}"
        return not hmac.compare_digest(decoded.encode(), expected.encode())

    def _add_user(self, user: User) -> User:
        self.users[user.id] = user
        return user

    def _user(self, request: web.Request) -> User:
        user = self.users.get(int(request.match_info["id"]))
        if user is None:
            raise AnsweredError(404, {"error": "RecordNotFound", "description": "Not found"})
        return user

    def _ticket(self, request: web.Request) -> Ticket:
        ticket = self.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            raise RefusedError("no such ticket (the backend only writes tickets it found)", 404)
        return ticket

    # ---- users

    async def _me(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        if self.anonymous or "Authorization" not in request.headers:
            anonymous = {
                "id": None,
                "name": "Anonymous user",
                "role": "end-user",
                "email": "invalid@example.com",
            }
            return self.json_response({"user": anonymous})
        return self.json_response({"user": self.agent.view()})

    async def _create_or_update(self, request: web.Request, body: Any) -> web.Response:
        fields = _object(
            body,
            "user",
            {
                "name": str,
                "external_id": str,
                "email": _is_email,
                "role": ROLES.__contains__,
                "verified": bool,
            },
        )
        if "external_id" not in fields and "email" not in fields:
            raise RefusedError(
                "user has neither external_id nor email: Zendesk creates a new user every time"
            )
        match = next(
            (
                u
                for u in self.users.values()
                if fields.get("external_id") and u.external_id == fields["external_id"]
            ),
            None,
        ) or next(
            (u for u in self.users.values() if ("email", fields.get("email")) in u.identities), None
        )
        if match is None:
            if not fields.get("name"):
                raise invalid("name", "Name: is too short (minimum is 1 character)")
            match = self._add_user(
                User(
                    next(self._ids),
                    fields["name"],
                    fields.get("role", "end-user"),
                    fields.get("external_id"),
                )
            )
            if "email" in fields:
                match.identities.append(("email", fields["email"]))
            return self.json_response({"user": match.view()}, status=201)
        match.name = fields.get("name", match.name)
        match.external_id = fields.get("external_id", match.external_id)
        return self.json_response({"user": match.view()})

    async def _search_users(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        external_id = request.query.get("external_id")
        if not external_id or set(request.query) - {"external_id"}:
            raise RefusedError("the backend searches users by external_id only")
        found = [u.view() for u in self.users.values() if u.external_id == external_id]
        return self.json_response(
            {"users": found, "next_page": None, "previous_page": None, "count": len(found)}
        )

    async def _show_user(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        return self.json_response({"user": self._user(request).view()})

    async def _update_user(self, request: web.Request, body: Any) -> web.Response:
        user = self._user(request)
        fields = _object(body, "user", {"name": str, "external_id": str})
        taken = fields.get("external_id")
        if taken and any(u.external_id == taken and u is not user for u in self.users.values()):
            raise invalid(
                "external_id", f"External: {taken} has already been taken", "DuplicateValue"
            )
        user.name = fields.get("name", user.name)
        user.external_id = fields.get("external_id", user.external_id)
        return self.json_response({"user": user.view()})

    async def _identities(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        user = self._user(request)
        listed = [
            {
                "id": n,
                "user_id": user.id,
                "type": t,
                "value": v,
                "verified": False,
                "primary": n == 0,
            }
            for n, (t, v) in enumerate(user.identities)
        ]
        return self.json_response(
            {"identities": listed, "next_page": None, "previous_page": None, "count": len(listed)}
        )

    async def _add_identity(self, request: web.Request, body: Any) -> web.Response:
        user = self._user(request)
        fields = _object(
            body,
            "identity",
            {"type": IDENTITY_TYPES.__contains__, "value": str},
            required=("type", "value"),
        )
        kind, value = fields["type"], fields["value"]
        if kind == "email" and not _is_email(value):
            raise RefusedError(f"identity value {value!r} is not an e-mail address")
        if kind == "phone_number" and not _E164.match(value):
            raise RefusedError(f"identity value {value!r} is not an E.164 phone number")
        if (kind, value) in user.identities:
            raise RefusedError(f"user {user.id} already has the identity {kind} {value}")
        if any((kind, value) in u.identities for u in self.users.values()):
            raise invalid(
                "value", f"Value: {value} is already being used by another user", "DuplicateValue"
            )
        user.identities.append((kind, value))
        created = {"id": len(user.identities), "user_id": user.id, "type": kind, "value": value}
        return self.json_response({"identity": created}, status=201)

    async def _merge(self, request: web.Request, body: Any) -> web.Response:
        source = self._user(request)
        target_id = _object(body, "user", {"id": int}, required=("id",))["id"]
        target = self.users.get(target_id)
        if target is None or target is source:
            raise RefusedError(f"merge target {target_id} is not another existing user")
        if source.role != "end-user" or target.role != "end-user":
            raise invalid("base", "Only end users can be merged")
        for ticket in self.tickets.values():
            if ticket.requester_id == source.id:
                ticket.requester_id = target.id
        target.identities += [i for i in source.identities if i not in target.identities]
        del self.users[source.id]
        return self.json_response({"user": target.view()})

    async def _delete_user(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        user = self._user(request)
        del self.users[user.id]
        user.active = False
        self.deleted_users[user.id] = user
        return self.json_response({"user": user.view()})

    async def _purge(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        user_id = int(request.match_info["id"])
        if user_id in self.users:
            raise RefusedError(f"user {user_id} must be deleted before it is deleted permanently")
        if user_id not in self.deleted_users:
            raise AnsweredError(404, {"error": "RecordNotFound", "description": "Not found"})
        del self.deleted_users[user_id]
        self.purged.append(user_id)
        return self.json_response(
            {"deleted_user": {"id": user_id, "name": "Permanently Deleted User"}}
        )

    # ---- tickets

    async def _list_tickets(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        external_id = request.query.get("external_id")
        if not external_id or set(request.query) - {"external_id"}:
            raise RefusedError("the backend lists tickets by external_id only")
        found = [
            t.view()
            for t in self.tickets.values()
            if t.external_id == external_id and not self.unlisted
        ]
        return self.json_response(
            {"tickets": found, "next_page": None, "previous_page": None, "count": len(found)}
        )

    async def _create_ticket(self, request: web.Request, body: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise RefusedError(
                "a ticket create without an Idempotency-Key can duplicate the ticket"
            )
        if len(key) > 255:
            raise RefusedError("Idempotency-Key longer than 255 characters")
        if key in self._keys:
            first, answer = self._keys[key]
            if first != body:
                self.problems.append(f"Idempotency-Key {key!r} replayed with another body")
                raise AnsweredError(
                    400,
                    {
                        "error": "IdempotentRequestError",
                        "description": "Request parameters don't match the given idempotency key",
                    },
                )
            response = self.json_response(answer, status=201)
            response.headers["x-idempotency-lookup"] = "hit"
            return response
        fields = _object(
            body,
            "ticket",
            {
                "subject": str,
                "comment": dict,
                "requester_id": int,
                "external_id": str,
                "tags": _is_tags,
                "group_id": int,
                "brand_id": int,
                "via_followup_source_id": int,
                "status": TICKET_STATUSES.__contains__,
                "priority": {"urgent", "high", "normal", "low"}.__contains__,
            },
            required=("comment", "requester_id"),
        )
        comment = self._comment(fields["comment"])
        requester = self.users.get(fields["requester_id"])
        if requester is None:
            raise invalid("requester", "Requester: is invalid")
        for name, known in (("group_id", self.groups), ("brand_id", self.brands)):
            if name in fields and fields[name] not in known:
                raise invalid(name.removesuffix("_id"), f"{name}: {fields[name]} does not exist")
        source = fields.get("via_followup_source_id")
        if source is not None and (
            source not in self.tickets or self.tickets[source].status != "closed"
        ):
            raise RefusedError("via_followup_source_id must name a closed ticket")
        ticket = Ticket(
            next(self._ids),
            requester.id,
            fields.get("subject") or comment.body[:80],
            fields.get("external_id"),
            list(dict.fromkeys(fields.get("tags", []))),
            group_id=fields.get("group_id"),
            brand_id=fields.get("brand_id"),
            followup_of=source,
        )
        ticket.comments.append(comment)
        self.touch(ticket)
        self.tickets[ticket.id] = ticket
        answer = {"ticket": ticket.view(), "audit": {"ticket_id": ticket.id, "events": []}}
        self._keys[key] = (body, answer)
        lost = self._maybe_lost(request)
        if lost is not None:
            return lost
        response = self.json_response(answer, status=201)
        response.headers["x-idempotency-lookup"] = "miss"
        return response

    async def _update_ticket(self, request: web.Request, body: Any) -> web.Response:
        ticket = self._ticket(request)
        fields = _object(
            body,
            "ticket",
            {"comment": dict, "additional_tags": _is_tags, "remove_tags": _is_tags,
             "status": TICKET_STATUSES.__contains__, "subject": str, "safe_update": bool,
             "updated_stamp": str},
        )  # fmt: skip
        if ticket.status == "closed":
            raise RefusedError(f"ticket {ticket.id} is closed: Zendesk refuses its update")
        if "comment" in fields and not (fields.get("safe_update") and "updated_stamp" in fields):
            raise RefusedError("a comment without safe_update + updated_stamp can be added twice")
        if fields.get("safe_update") and fields.get("updated_stamp") != ticket.updated_at:
            raise AnsweredError(
                409,
                {"error": "UpdateConflict",
                 "description": "Safe Update prevented the update due to outdated ticket data. "
                                "Please fetch the latest ticket data and try again."},
            )  # fmt: skip
        if "comment" in fields:
            if len(ticket.comments) >= MAX_COMMENTS:
                raise invalid("base", "Comments: a ticket can have up to 5000 comments")
            ticket.comments.append(self._comment(fields["comment"]))
        for tag in fields.get("additional_tags", []):
            if tag not in ticket.tags:
                ticket.tags.append(tag)
        ticket.status = fields.get("status", ticket.status)
        self.touch(ticket)
        answer = {"ticket": ticket.view(), "audit": {"ticket_id": ticket.id, "events": []}}
        lost = self._maybe_lost(request)
        return self.json_response(answer) if lost is None else lost

    async def _comments(self, request: web.Request, body: Any) -> web.Response:
        _no_body(body)
        ticket = self._ticket(request)
        if set(request.query) - {"per_page", "page"}:
            raise RefusedError(f"unknown comment list parameters {sorted(request.query)}")
        per_page = _int_param(request, "per_page", 100)
        page = _int_param(request, "page", 1)
        if not 1 <= per_page <= 100 or page < 1:
            raise RefusedError("per_page must lie in 1..100 and page be at least 1")
        start = (page - 1) * per_page
        listed = ticket.comments[start : start + per_page]
        more = start + per_page < len(ticket.comments)
        path = f"{self.url}{request.path}?page={page + 1}&per_page={per_page}"
        return self.json_response(
            {
                "comments": [c.view() for c in listed],
                "next_page": path if more else None,
                "previous_page": None,
                "count": len(ticket.comments),
            }
        )

    def _maybe_lost(self, request: web.Request) -> web.Response | None:
        """Drop the connection if an answer is to be lost (the write has happened)."""
        if self.lose_answers <= 0:
            return None
        self.lose_answers -= 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response()  # never sent: the connection is gone

    def _comment(self, document: Any) -> Comment:
        fields = _fields(
            document, "comment", {"body": str, "public": bool, "author_id": int}, required=("body",)
        )
        if not fields["body"].strip():
            raise invalid("comment", "Comment: cannot be blank")
        if any(f"gateway ref {i}" in fields["body"] for i in self.refused_interactions):
            raise invalid("comment", "Comment: body is invalid (refused by the test)")
        author = fields.get("author_id", self.agent.id)
        if author not in self.users:
            raise invalid("author_id", f"Author: {author} is invalid")
        return Comment(next(self._ids), author, fields["body"], fields.get("public", True))


def _decode(raw: bytes, method: str) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RefusedError(f"{method} body is not JSON") from None


def _no_body(body: Any) -> None:
    if body is not None:
        raise RefusedError("this endpoint takes no body")


def _object(
    body: Any, root: str, schema: Mapping[str, _Field], required: Iterable[str] = ()
) -> dict[str, Any]:
    """Return `body[root]` checked against `schema`; `body` must hold nothing else."""
    if not isinstance(body, dict) or set(body) != {root}:
        raise RefusedError(
            f"the body must be {{{root!r}: {{...}}}} and nothing else, got {body!r}"[:300]
        )
    return _fields(body[root], root, schema, required)


def _fields(
    document: Any, where: str, schema: Mapping[str, _Field], required: Iterable[str] = ()
) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise RefusedError(f"{where} must be an object")
    unknown = sorted(set(document) - set(schema))
    if unknown:
        raise RefusedError(f"{where}: unknown field(s) {unknown}")
    missing = sorted(set(required) - set(document))
    if missing:
        raise RefusedError(f"{where}: missing required field(s) {missing}")
    for name, value in document.items():
        check = schema[name]
        if isinstance(check, type | tuple):
            ok = isinstance(value, check) and not (isinstance(value, bool) and check is int)
        else:
            ok = _safe(check, value)
        if not ok:
            raise RefusedError(f"{where}.{name}: invalid value {value!r}"[:300])
    return dict(document)


def _safe(check: Callable[[Any], bool], value: Any) -> bool:
    try:
        return bool(check(value))
    except TypeError:
        return False


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and bool(_EMAIL.match(value))


def _is_tags(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, str) and _TAG.match(t) for t in value)


def _int_param(request: web.Request, name: str, default: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if not value.isdigit():
        raise RefusedError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
