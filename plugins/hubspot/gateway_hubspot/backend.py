"""The `hubspot` backend: contacts, engagements, optional tickets, merges and erasure."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from gateway.errors import DeliveryError, NotReadyError
from gateway.plugin import (
    Backend,
    BackendContext,
    CustomerErasure,
    CustomerMerge,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
)
from gateway.schema import Interaction
from gateway_hubspot.batches import BatchAnswer, Item, Run, attempt
from gateway_hubspot.client import Answer, HubSpotClient
from gateway_hubspot.contacts import resolve_contacts
from gateway_hubspot.limiter import ThrottledError, limiter_for
from gateway_hubspot.mapping import (
    engagement_key,
    engagement_properties,
    engagement_type,
    receipt_key,
    receipt_properties,
    ticket_properties,
)
from gateway_hubspot.portal import CONVERSATION_ID, KEY, AssociationTypes, prepare_portal
from gateway_hubspot.settings import API_ROOT, HubSpotSettings

__all__ = ["HubSpotBackend"]


class HubSpotBackend(Backend[HubSpotSettings]):
    """Writes every interaction to HubSpot as an engagement on the customer's one contact.

    Writes are upserts on unique properties (`gateway_customer_id`, `gateway_key`,
    `gateway_conversation_id`), so a retry after a timeout, a crash or a replay updates what the
    first attempt wrote instead of adding a second record. Receipts update their message's
    engagement. See docs/backends/hubspot.md.
    """

    type_name = "hubspot"
    settings_model = HubSpotSettings
    max_batch: ClassVar[int] = 100

    def __init__(self, ctx: BackendContext, settings: HubSpotSettings) -> None:
        super().__init__(ctx, settings)
        root = str(settings.base_url or API_ROOT)
        token = settings.token.get_secret_value()
        self._client = HubSpotClient(
            ctx.http,
            root,
            token,
            settings.timeout.total_seconds(),
            limiter_for(root, token, settings.requests_per_10s),
        )
        self._types: AssociationTypes = {}

    def batch_limit(self) -> int:
        """Return `batch_size`: the deliveries written by one round of batch requests."""
        return self.settings.batch_size

    async def start(self) -> None:
        """Create the custom properties where missing and read the association types.

        Raises `AuthenticationError` (a scope is missing) or `NotReadyError` (HubSpot failed or
        refused a property: the host tries again).
        """
        try:
            self._types = await prepare_portal(self._client, self.settings.tickets)
        except DeliveryError as exc:
            raise NotReadyError(f"HubSpot portal set-up failed: {exc}") from None

    async def health_check(self) -> None:
        """Read one contact: proves HubSpot answers and takes the token.

        When deliveries use up the local rate budget, the check is skipped rather than sent
        over it: the host asks again soon.
        """
        try:
            await self._client.call("GET", "/crm/v3/objects/contacts", params={"limit": "1"})
        except ThrottledError as exc:
            if exc.sent:
                raise
            self.ctx.logger.debug("backend %s: health check skipped: %s", self.ctx.name, exc)

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Write `batch` in a few batch requests; one outcome per delivery, in order."""
        run = Run.of(self._client, batch)
        messages = [i for i in run.items if i.delivery.interaction.type != "status"]
        receipts = [i for i in run.items if i.delivery.interaction.type == "status"]
        await resolve_contacts(run, messages)
        if self.settings.tickets:
            await self._tickets(run, run.pending(messages))
        await self._engagements(run, run.pending(messages))
        await self._receipts(run, receipts)
        for note in run.notes:
            self.ctx.logger.info("backend %s: %s", self.ctx.name, note)
        return run.outcomes()

    async def _tickets(self, run: Run, items: list[Item]) -> None:
        """Find or open the ticket of each conversation; associate it to the contact.

        Read first, then upsert only the missing ones: an upsert of an existing ticket would
        reset the stage an agent moved it to.
        """
        by_conversation: dict[str, list[Item]] = {}
        for item in items:
            if conversation := item.delivery.interaction.conversation_id:
                by_conversation.setdefault(conversation, []).append(item)
        if not by_conversation:
            return
        path = "/crm/v3/objects/tickets/batch"
        read = await run.send(
            items,
            "POST",
            f"{path}/read",
            {
                "idProperty": CONVERSATION_ID,
                "properties": [CONVERSATION_ID],
                "inputs": [{"id": conversation} for conversation in by_conversation],
            },
        )
        if read is None:
            return
        found = dict(BatchAnswer.read(read, lambda r: _prop(r, CONVERSATION_ID)).results)
        missing = {c: group for c, group in by_conversation.items() if c not in found}
        if missing:
            inputs = [
                {
                    "idProperty": CONVERSATION_ID,
                    "id": conversation,
                    "objectWriteTraceId": conversation,
                    "properties": self._new_ticket(group[0]),
                }
                for conversation, group in missing.items()
            ]
            items_missing = [item for group in missing.values() for item in group]
            upsert = await run.send(items_missing, "POST", f"{path}/upsert", {"inputs": inputs})
            if upsert is not None:
                split = BatchAnswer.read(
                    upsert, lambda r: r.get("objectWriteTraceId") or _prop(r, CONVERSATION_ID)
                )
                for conversation in run.fail_missing(split, missing):
                    found[conversation] = split.results[conversation]
        links = []
        for conversation, ticket in found.items():
            for item in by_conversation[conversation]:
                item.ticket = str(ticket["id"])
                if item.contact:
                    links.append((item.ticket, item.contact, item))
        await self._associate(run, "tickets", "contacts", links)

    def _new_ticket(self, item: Item) -> dict[str, str]:
        props = ticket_properties(
            item.delivery.interaction, self.settings.ticket_pipeline, self.settings.ticket_stage
        )
        if self.settings.owner_id:
            props["hubspot_owner_id"] = self.settings.owner_id
        return props

    async def _engagements(self, run: Run, items: list[Item]) -> None:
        """Upsert each interaction's engagement by `gateway_key`; associate it."""
        for object_type, keyed in _by_type_and_key(items, engagement_key).items():
            inputs = []
            for key, group in keyed.items():
                props: dict[str, str] = {}
                for item in group:  # events of one call: later ones complete earlier ones
                    interaction = item.delivery.interaction
                    props |= engagement_properties(interaction, self.settings.owner_id)
                inputs.append(
                    {"idProperty": KEY, "id": key, "objectWriteTraceId": key, "properties": props}
                )
            members = [item for group in keyed.values() for item in group]
            path = f"/crm/v3/objects/{object_type}/batch/upsert"
            answer = await run.send(members, "POST", path, {"inputs": inputs})
            if answer is None:
                continue
            split = BatchAnswer.read(answer, lambda r: r.get("objectWriteTraceId") or _prop(r, KEY))
            written = [
                (str(split.results[key]["id"]), item)
                for key in run.fail_missing(split, keyed)
                for item in keyed[key]
            ]
            for to_type, target in (("contacts", "contact"), ("tickets", "ticket")):
                links = [(eid, getattr(i, target), i) for eid, i in written if getattr(i, target)]
                await self._associate(run, object_type, to_type, links)

    async def _associate(
        self, run: Run, from_type: str, to_type: str, links: list[tuple[str, str, Item]]
    ) -> None:
        """Associate each (from id, to id) pair with HubSpot's default type for the pair."""
        if not links:
            return
        type_id = self._types[(from_type, to_type)]
        pairs = sorted({(from_id, to_id) for from_id, to_id, _ in links})
        inputs = [
            {
                "from": {"id": from_id},
                "to": {"id": to_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}],
            }
            for from_id, to_id in pairs
        ]
        path = f"/crm/v4/associations/{from_type}/{to_type}/batch/create"
        await run.send([item for _, _, item in links], "POST", path, {"inputs": inputs})

    async def _receipts(self, run: Run, items: list[Item]) -> None:
        """Update the engagement each receipt is about; a message HubSpot lacks is a no-op."""
        for object_type, keyed in _by_type_and_key(items, receipt_key).items():
            inputs = [
                {
                    "idProperty": KEY,
                    "id": key,
                    "properties": receipt_properties(group[-1].delivery.interaction, object_type),
                }
                for key, group in keyed.items()
            ]
            members = [item for group in keyed.values() for item in group]
            path = f"/crm/v3/objects/{object_type}/batch/update"
            answer = await run.send(members, "POST", path, {"inputs": inputs}, missing_ok=True)
            if answer is None:
                continue
            split = BatchAnswer.read(answer, lambda r: _prop(r, KEY))
            for key, group in keyed.items():
                if answer.status == 404 or split.missing(key):
                    run.notes.append(f"receipt for {key!r} skipped: HubSpot has no such message")
                    run.decide(group, Delivered())
            run.fail_missing(split, keyed)

    async def merge_customers(self, merge: CustomerMerge) -> Outcome:
        """Merge the merged customer's contacts into the survivor's (HubSpot's contact merge).

        Idempotent: a contact HubSpot already merged (it answers its id with the survivor) or
        no longer has is skipped.
        """
        primary = _contact_ids(merge.survivor_refs)
        merged = [c for c in _contact_ids(merge.merged_refs) if c not in primary]
        if not primary or not merged:
            return Delivered()
        for contact in merged:
            path = f"/crm/v3/objects/contacts/{contact}"
            current = await attempt(self._client, "GET", path, missing_ok=True)
            if not isinstance(current, Answer):
                return current
            if current.status == 404 or str(_body(current).get("id")) == primary[0]:
                continue
            done = await attempt(
                self._client,
                "POST",
                "/crm/v3/objects/contacts/merge",
                json={"primaryObjectId": primary[0], "objectIdToMerge": contact},
                missing_ok=True,
            )
            if not isinstance(done, Answer):
                return done
        return Delivered(record_refs=(f"contact {primary[0]}",))

    async def unmerge_customers(self, merge: CustomerMerge) -> Outcome:
        """Refuse: HubSpot cannot split a merged contact; say what to do instead."""
        return Rejected(
            f"HubSpot cannot unmerge contacts: the gateway split customer {merge.merged_id} from "
            f"{merge.survivor_id}, but their HubSpot contact stays merged; if they are two "
            "people, create the second contact in HubSpot by hand and move its activities there"
        )

    async def erase_customer(self, erasure: CustomerErasure) -> Outcome:
        """GDPR-delete the customer's contacts; one already gone counts as erased."""
        for contact in _contact_ids(erasure.record_refs):
            done = await attempt(
                self._client,
                "POST",
                "/crm/v3/objects/contacts/gdpr-delete",
                json={"objectId": contact},
                missing_ok=True,
            )
            if not isinstance(done, Answer):
                return done
        return Delivered()


def _by_type_and_key(
    items: list[Item], key_of: Callable[[Interaction], str]
) -> dict[str, dict[str, list[Item]]]:
    """Group items by engagement type, then by `gateway_key` (one input per key and batch)."""
    grouped: dict[str, dict[str, list[Item]]] = {}
    for item in items:
        interaction = item.delivery.interaction
        keyed = grouped.setdefault(engagement_type(interaction), {})
        keyed.setdefault(key_of(interaction), []).append(item)
    return grouped


def _body(answer: Answer) -> Mapping[str, Any]:
    return answer.body if isinstance(answer.body, Mapping) else {}


def _contact_ids(refs: Sequence[str]) -> list[str]:
    return [ref.removeprefix("contact ") for ref in refs if ref.startswith("contact ")]


def _prop(result: Mapping[str, Any], name: str) -> str | None:
    props = result.get("properties")
    value = props.get(name) if isinstance(props, Mapping) else None
    return str(value) if value is not None else None
