"""One HubSpot contact per gateway customer, found before anything is created.

For each customer in a batch, in this order, the first that answers wins:

1. the crosswalk: the `contact N` the backend reported for the customer before (batch read by id);
2. the unique `gateway_customer_id` property (batch read by `idProperty`): finds the contact an
   earlier attempt created even if its answer was lost to a timeout or a crash;
3. the e-mail address (batch read by `idProperty=email`: e-mail is unique in HubSpot);
4. the phone number, for contacts that existed before the gateway (search, which is eventually
   consistent: it never decides whether the gateway creates a contact, only which older one it
   adopts);
5. else a batch upsert on `gateway_customer_id`, which cannot create a second contact for a
   customer whatever the timing.

A contact found through 3 or 4 is stamped with `gateway_customer_id` (unless it already belongs
to another customer, which is then left alone: the gateway creates this customer's own). Found
or created, empty fields are filled from what the gateway knows (`mapping.contact_updates`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gateway_hubspot.batches import BatchAnswer, Item, Run
from gateway_hubspot.mapping import contact_updates, customer_party
from gateway_hubspot.portal import CUSTOMER_ID

__all__ = ["CONTACT_PROPERTIES", "resolve_contacts"]

CONTACT_PROPERTIES: Final = ["email", "phone", "mobilephone", "firstname", "lastname", CUSTOMER_ID]
_BATCH: Final = "/crm/v3/objects/contacts/batch"
_SEARCH_LIMIT: Final = 200
"""Results one search returns at most (HubSpot's maximum page size)."""


@dataclass(slots=True)
class _Customer:
    """The items of one customer in this batch, and the contact found for them."""

    customer_id: str
    items: list[Item]
    contact: Mapping[str, Any] | None = None
    stamp: bool = False
    email_taken: bool = False
    refs: list[str] = field(default_factory=list)

    def identity(self, kind: str) -> str | None:
        """Return the latest verified identity of `kind` the items name: a typed or unproven
        one (a claimed interaction's) never adopts somebody's contact."""
        for item in reversed(self.items):
            interaction = item.delivery.interaction
            if interaction.identity_claimed:
                continue
            for identity in customer_party(interaction).identities:
                if identity.kind == kind and identity.verified:
                    return identity.value
        return None


async def resolve_contacts(run: Run, items: Sequence[Item]) -> None:
    """Set `item.contact` for every item with a customer id, creating contacts only if needed."""
    customers: dict[str, _Customer] = {}
    for item in items:
        if customer_id := item.delivery.interaction.customer_id:
            customer = customers.setdefault(customer_id, _Customer(customer_id, []))
            customer.items.append(item)
            customer.refs += [
                ref.removeprefix("contact ")
                for ref in item.delivery.record_refs
                if ref.startswith("contact ")
            ]
    await _by_ref(run, [c for c in customers.values() if c.refs])
    await _by_unique(run, _open(customers), CUSTOMER_ID, lambda c: c.customer_id)
    await _by_unique(run, _open(customers, "email"), "email", lambda c: c.identity("email"))
    await _by_phone(run, _open(customers, "phone"))
    await _create(run, _open(customers))
    await _fill(run, [c for c in customers.values() if c.contact is not None])
    for customer in customers.values():
        if customer.contact is not None:
            for item in customer.items:
                item.contact = str(customer.contact["id"])


def _open(customers: Mapping[str, _Customer], needs: str | None = None) -> list[_Customer]:
    """Return the customers still without a contact (and with a `needs` identity)."""
    return [
        c
        for c in customers.values()
        if c.contact is None
        and any(item.pending for item in c.items)
        and (needs is None or c.identity(needs))
    ]


def _items(customers: Sequence[_Customer]) -> list[Item]:
    return [item for customer in customers for item in customer.items]


async def _read(
    run: Run,
    customers: Sequence[_Customer],
    ids: Sequence[str],
    id_property: str | None,
) -> list[Mapping[str, Any]] | None:
    body: dict[str, Any] = {"properties": CONTACT_PROPERTIES, "inputs": [{"id": i} for i in ids]}
    if id_property:
        body["idProperty"] = id_property
    answer = await run.send(_items(customers), "POST", f"{_BATCH}/read", body)
    if answer is None:
        return None
    results = answer.body.get("results") if isinstance(answer.body, Mapping) else None
    return [r for r in results or () if isinstance(r, Mapping)]


async def _by_ref(run: Run, customers: Sequence[_Customer]) -> None:
    ids = sorted({ref for c in customers for ref in c.refs})
    if not ids:
        return
    found = {str(r.get("id")): r for r in await _read(run, customers, ids, None) or ()}
    for customer in customers:
        customer.contact = next((found[r] for r in customer.refs if r in found), None)


async def _by_unique(
    run: Run,
    customers: Sequence[_Customer],
    id_property: str,
    value_of: Callable[[_Customer], str | None],
) -> None:
    values = {c.customer_id: value_of(c) or "" for c in customers}
    if not customers:
        return
    found = await _read(run, customers, sorted(set(values.values())), id_property)
    by_value = {str(_props(r).get(id_property) or "").lower(): r for r in found or ()}
    for customer in customers:
        contact = by_value.get(values[customer.customer_id].lower())
        if contact is None:
            continue
        owner = _props(contact).get(CUSTOMER_ID)
        if owner and owner != customer.customer_id:
            customer.email_taken = True  # another customer's contact: never adopt it
            continue
        customer.contact, customer.stamp = contact, not owner


async def _by_phone(run: Run, customers: Sequence[_Customer]) -> None:
    """Adopt contacts that existed before the gateway, by phone: one search for the batch."""
    phones = sorted({phone for c in customers if (phone := c.identity("phone"))})
    if not phones:
        return
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": name, "operator": "IN", "values": phones}]}
            for name in ("phone", "mobilephone")
        ],
        "properties": CONTACT_PROPERTIES,
        "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}],
        "limit": _SEARCH_LIMIT,
    }
    answer = await run.send(_items(customers), "POST", "/crm/v3/objects/contacts/search", body)
    results = answer.body.get("results") if answer and isinstance(answer.body, Mapping) else None
    free = [c for c in results or () if isinstance(c, Mapping) and not _props(c).get(CUSTOMER_ID)]
    for customer in customers:
        phone = customer.identity("phone")
        for contact in free:
            if phone in (_props(contact).get("phone"), _props(contact).get("mobilephone")):
                customer.contact, customer.stamp = contact, True
                free.remove(contact)
                break


async def _create(run: Run, customers: Sequence[_Customer]) -> None:
    if not customers:
        return
    inputs, emails = [], set()
    for customer in customers:
        props: dict[str, str] = {CUSTOMER_ID: customer.customer_id}
        for item in customer.items:
            props |= contact_updates(item.delivery.interaction, props)
        if customer.email_taken or props.get("email") in emails:  # e-mail is unique in HubSpot
            props.pop("email", None)
        emails.add(props.get("email"))
        inputs.append(
            {
                "idProperty": CUSTOMER_ID,
                "id": customer.customer_id,
                "objectWriteTraceId": customer.customer_id,
                "properties": props,
            }
        )
    answer = await run.send(_items(customers), "POST", f"{_BATCH}/upsert", {"inputs": inputs})
    if answer is None:
        return
    split = BatchAnswer.read(
        answer, lambda r: r.get("objectWriteTraceId") or _props(r).get(CUSTOMER_ID)
    )
    created = run.fail_missing(split, {c.customer_id: c.items for c in customers})
    for customer in customers:
        if customer.customer_id in created:
            customer.contact = split.results[customer.customer_id]


async def _fill(run: Run, customers: Sequence[_Customer]) -> None:
    """Fill the found contacts' empty fields; stamp those adopted by e-mail or phone.

    An e-mail address another contact already has is left out (HubSpot keeps e-mail unique).
    """
    planned = {c.customer_id: _updates(c) for c in customers}
    adding = {cid: updates["email"] for cid, updates in planned.items() if "email" in updates}
    if adding:
        asking = [c for c in customers if c.customer_id in adding]
        found = await _read(run, asking, sorted(set(adding.values())), "email")
        owners = {str(_props(r).get("email") or "").lower(): str(r.get("id")) for r in found or ()}
        for customer in asking:
            owner = owners.get(adding[customer.customer_id])
            if owner is not None and customer.contact and owner != str(customer.contact["id"]):
                del planned[customer.customer_id]["email"]
    touched = [c for c in customers if planned[c.customer_id] and c.contact is not None]
    inputs = [
        {"id": str(c.contact["id"]), "properties": planned[c.customer_id]}
        for c in touched
        if c.contact is not None
    ]
    if not inputs:
        return
    answer = await run.send(_items(touched), "POST", f"{_BATCH}/update", {"inputs": inputs})
    if answer is None:
        return
    split = BatchAnswer.read(answer, lambda r: str(r.get("id")))
    run.fail_missing(split, {str(c.contact["id"]): c.items for c in touched if c.contact})


def _updates(customer: _Customer) -> dict[str, str]:
    """Return what the customer's contact lacks of what its items know."""
    assert customer.contact is not None
    current: dict[str, Any] = dict(_props(customer.contact))
    updates: dict[str, str] = {CUSTOMER_ID: customer.customer_id} if customer.stamp else {}
    for item in customer.items:
        updates |= contact_updates(item.delivery.interaction, current | updates)
    if customer.email_taken:
        updates.pop("email", None)
    return updates


def _props(contact: Mapping[str, Any]) -> Mapping[str, Any]:
    props = contact.get("properties")
    return props if isinstance(props, Mapping) else {}
