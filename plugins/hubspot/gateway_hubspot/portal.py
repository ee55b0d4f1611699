"""What the backend makes sure of in the HubSpot portal at start: custom properties, association
types. Nothing to set up by hand.

Each object type the backend writes gets a property group `channel_gateway` ("Channel Gateway")
and the properties below, created through the properties API when missing. The association type
ids (engagement → contact, engagement → ticket, ticket → contact) are read from HubSpot's labels
endpoint, never hard-coded: they are HubSpot's to define.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gateway.errors import AuthenticationError, NotReadyError
from gateway_hubspot.client import HubSpotClient
from gateway_hubspot.mapping import CLAIMED, ENGAGEMENT_TYPES

__all__ = [
    "CONVERSATION_ID",
    "CUSTOMER_ID",
    "GROUP",
    "KEY",
    "PROPERTIES",
    "AssociationTypes",
    "CustomProperty",
    "prepare_portal",
]

GROUP: Final = "channel_gateway"
CUSTOMER_ID: Final = "gateway_customer_id"
CONVERSATION_ID: Final = "gateway_conversation_id"
KEY: Final = "gateway_key"


@dataclass(frozen=True, slots=True)
class CustomProperty:
    """A string property the backend creates on an object type."""

    name: str
    label: str
    description: str
    unique: bool = False

    def definition(self) -> dict[str, Any]:
        """Return the body of `POST /crm/v3/properties/{objectType}` for this property."""
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "type": "string",
            "fieldType": "text",
            "groupName": GROUP,
            "hasUniqueValue": self.unique,
            "formField": False,
        }


_ENGAGEMENT_PROPERTIES: Final = (
    CustomProperty(
        KEY,
        "Channel Gateway key",
        "The channel and provider id of this message or call; unique, so it is written once.",
        unique=True,
    ),
    CustomProperty(
        "gateway_interaction_id", "Channel Gateway interaction", "The gateway's interaction id."
    ),
    CustomProperty(
        "gateway_status", "Channel Gateway delivery status", "The latest receipt: sent, read..."
    ),
    CustomProperty(
        CLAIMED,
        "Channel Gateway identity claimed",
        "true: the sender was not verified (typed details, an e-mail without SPF/DKIM).",
    ),
)
PROPERTIES: Final[Mapping[str, tuple[CustomProperty, ...]]] = {
    "contacts": (
        CustomProperty(
            CUSTOMER_ID,
            "Channel Gateway customer",
            "The gateway's customer id; unique, so one customer is one contact.",
            unique=True,
        ),
    ),
    "tickets": (
        CustomProperty(
            CONVERSATION_ID,
            "Channel Gateway conversation",
            "The gateway's conversation id; unique, so one conversation is one ticket.",
            unique=True,
        ),
    ),
    **dict.fromkeys(ENGAGEMENT_TYPES, _ENGAGEMENT_PROPERTIES),
}
"""The custom properties the backend creates, by object type."""
_SCHEMA_SCOPES: Final = {"contacts": "crm.schemas.contacts.write", "tickets": "tickets"}
_ACTIVITY_SCOPE: Final = "crm.objects.contacts.write"

AssociationTypes = Mapping[tuple[str, str], int]
"""HubSpot's default association type id per (from object type, to object type)."""


async def prepare_portal(client: HubSpotClient, tickets: bool) -> AssociationTypes:
    """Create the properties the backend needs where missing; return the association types."""
    objects = ["contacts", *ENGAGEMENT_TYPES] + (["tickets"] if tickets else [])
    for object_type in objects:
        await _ensure_properties(client, object_type, PROPERTIES[object_type])
    pairs = [(engagement, "contacts") for engagement in ENGAGEMENT_TYPES]
    if tickets:
        pairs += [(engagement, "tickets") for engagement in ENGAGEMENT_TYPES]
        pairs.append(("tickets", "contacts"))
    return {pair: await _default_type(client, *pair) for pair in pairs}


async def _ensure_properties(
    client: HubSpotClient, object_type: str, wanted: Iterable[CustomProperty]
) -> None:
    wanted = tuple(wanted)
    base = f"/crm/v3/properties/{object_type}"
    try:
        group = await client.call("GET", f"{base}/groups/{GROUP}", missing_ok=True)
        if group.status == 404:
            await client.call(
                "POST",
                f"{base}/groups",
                json={"name": GROUP, "label": "Channel Gateway", "displayOrder": -1},
            )
        read = await client.call(
            "POST",
            f"{base}/batch/read",
            json={"archived": False, "inputs": [{"name": p.name} for p in wanted]},
        )
        existing = {r.get("name"): r for r in _results(read.body) if isinstance(r, Mapping)}
        for prop in wanted:
            found = existing.get(prop.name)
            if found is not None and prop.unique and not found.get("hasUniqueValue"):
                raise NotReadyError(
                    f"HubSpot {object_type} property {prop.name!r} exists but does not require "
                    "unique values, so it cannot prevent duplicates; delete it (or rename it) in "
                    "HubSpot and the gateway creates it again"
                )
        missing = [p.definition() for p in wanted if p.name not in existing]
        if missing:
            await client.call("POST", f"{base}/batch/create", json={"inputs": missing})
    except AuthenticationError as exc:
        scope = _SCHEMA_SCOPES.get(object_type, _ACTIVITY_SCOPE)
        names = ", ".join(p.name for p in wanted)
        raise AuthenticationError(
            f"cannot read or create the HubSpot {object_type} properties {names} "
            f"(needs the scope {scope}): {exc}"
        ) from None


async def _default_type(client: HubSpotClient, from_type: str, to_type: str) -> int:
    answer = await client.call("GET", f"/crm/v4/associations/{from_type}/{to_type}/labels")
    labels = [r for r in _results(answer.body) if isinstance(r, Mapping)]
    defined = [r for r in labels if r.get("category") == "HUBSPOT_DEFINED"]
    unlabeled = [r for r in defined if not r.get("label")]
    for candidate in unlabeled or defined:
        if isinstance(candidate.get("typeId"), int):
            return int(candidate["typeId"])
    raise NotReadyError(f"HubSpot names no default association from {from_type} to {to_type}")


def _results(body: Any) -> list[Any]:
    results = body.get("results") if isinstance(body, Mapping) else None
    return results if isinstance(results, list) else []
