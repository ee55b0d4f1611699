"""The customer's one Zendesk user: found by crosswalk ref or `external_id`, identities added.

A user is created or matched with `POST /api/v2/users/create_or_update`, which Zendesk matches
on `external_id` (set to the gateway customer id) — so a retry after a crash, which lost the
crosswalk ref, finds the user it created instead of creating a second one. Only the external id
and a name are sent (a user first named after a number gets the customer's name once one is
known): a match on e-mail is never made, because an address another Zendesk user
already has must not make that user this customer. The customer's addresses and numbers become
identities (`POST /api/v2/users/{id}/identities`) when the user lacks them; one that another
user already holds is left there (Zendesk refuses it with 422) and noted.

Only verified addresses and numbers become identities. A claimed interaction (its sender may not
be this customer) changes nothing on the user: without a crosswalk ref, the user is first looked
up by `external_id`, so `create_or_update` (which would rename a user it matches) is only sent
to create a user that does not exist yet, named `Customer cus_...`; the customer's first
verified name or number renames it later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gateway.errors import PermanentDeliveryError
from gateway.schema import Interaction
from gateway_zendesk.client import ZendeskClient
from gateway_zendesk.mapping import customer_name, identities, user_name

__all__ = ["ensure_user", "user_ids", "users_by_external_id"]


def user_ids(refs: Iterable[str]) -> list[int]:
    """Return the user ids in crosswalk refs (`user 123`), in order."""
    found = []
    for ref in refs:
        kind, _, number = ref.partition(" ")
        if kind == "user" and number.isdigit():
            found.append(int(number))
    return list(dict.fromkeys(found))


async def ensure_user(
    client: ZendeskClient,
    interaction: Interaction,
    refs: Sequence[str],
    logger: logging.Logger,
) -> int:
    """Return the id of the customer's user, creating it and adding identities as needed."""
    user_id, existing = None, None
    for candidate in user_ids(refs):
        existing = await _identities(client, candidate)
        if existing is not None:
            user_id = candidate
            break
    if user_id is None and interaction.identity_claimed:
        assert interaction.customer_id is not None
        found = await users_by_external_id(client, interaction.customer_id)
        user_id = found[0] if found else None
    if user_id is None:
        answer = await client.call(
            "POST",
            "/api/v2/users/create_or_update",
            json={
                "user": {
                    "external_id": interaction.customer_id,
                    "name": user_name(interaction),
                    "role": "end-user",
                }
            },
        )
        user_id = _id(answer.record("user"))
        existing = set() if answer.status == 201 else await _identities(client, user_id)
    else:
        await _name_if_unnamed(client, user_id, interaction, existing or set())
    for kind, value in identities(interaction):
        if (kind, value.lower()) in (existing or set()):
            continue
        try:
            await client.call(
                "POST",
                f"/api/v2/users/{user_id}/identities",
                json={"identity": {"type": kind, "value": value}},
            )
        except PermanentDeliveryError as exc:  # another user holds it: theirs, not ours
            logger.info("zendesk: identity %s not added to user %d: %s", kind, user_id, exc)
    return user_id


async def _name_if_unnamed(
    client: ZendeskClient,
    user_id: int,
    interaction: Interaction,
    existing: set[tuple[str, str]],
) -> None:
    """Give a user named after an address or number (no name was known) the customer's name.

    Read only when the interaction carries a name; a name anyone gave the user stays.
    """
    name = customer_name(interaction)
    if not name:
        return
    answer = await client.call("GET", f"/api/v2/users/{user_id}")
    current = str(answer.record("user").get("name", ""))
    placeholders = {value for _, value in existing} | {
        f"customer {interaction.customer_id}".lower()
    }
    if current.lower() in placeholders:
        await client.call(
            "PUT", f"/api/v2/users/{user_id}", json={"user": {"name": user_name(interaction)}}
        )


async def users_by_external_id(client: ZendeskClient, customer_id: str) -> list[int]:
    """Return the ids of the users whose `external_id` is `customer_id`."""
    answer = await client.call("GET", "/api/v2/users/search", params={"external_id": customer_id})
    users = answer.body.get("users") if isinstance(answer.body, Mapping) else None
    return [_id(user) for user in users or () if isinstance(user, Mapping)]


async def _identities(client: ZendeskClient, user_id: int) -> set[tuple[str, str]] | None:
    """Return the user's (type, lower-cased value) identities, or None if the user is gone."""
    answer = await client.call(
        "GET", f"/api/v2/users/{user_id}/identities", params={"per_page": "100"}, missing_ok=True
    )
    if answer.status == 404:
        return None
    listed = answer.body.get("identities") if isinstance(answer.body, Mapping) else None
    return {
        (str(i.get("type")), str(i.get("value", "")).lower())
        for i in listed or ()
        if isinstance(i, Mapping)
    }


def _id(record: Mapping[str, Any]) -> int:
    value = record.get("id")
    if not isinstance(value, int):
        raise PermanentDeliveryError(f"Zendesk answered a user without an id: {dict(record)}")
    return value
