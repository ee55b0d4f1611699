"""The `salesforce` backend: Contacts, Tasks, optional Cases, merges and erasure."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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
from gateway_salesforce.client import Answer, SalesforceClient
from gateway_salesforce.mapping import (
    CONTACT_FIELDS,
    case_fields,
    contact_changes,
    receipt_key,
    receipt_value,
    task_fields,
    task_key,
)
from gateway_salesforce.org import check, requirements
from gateway_salesforce.records import COLLECTION_LIMIT, Item, Run, Write, attempt, soql_in
from gateway_salesforce.settings import SalesforceSettings

__all__ = ["SalesforceBackend"]


class SalesforceBackend(Backend[SalesforceSettings]):
    """Writes every interaction to Salesforce as a Task on the customer's one Contact.

    Every write is an sObject Collections upsert on an external-id field (customer id,
    interaction key, conversation id), so a retry after a timeout, a crash or a replay updates
    what the first attempt wrote instead of adding a second record. See
    docs/backends/salesforce.md.
    """

    type_name = "salesforce"
    settings_model = SalesforceSettings
    max_batch: ClassVar[int] = COLLECTION_LIMIT

    def __init__(self, ctx: BackendContext, settings: SalesforceSettings) -> None:
        super().__init__(ctx, settings)
        self._client = SalesforceClient(
            ctx.http,
            settings.api_root(),
            settings.api_version,
            settings.client_id,
            settings.client_secret.get_secret_value(),
            settings.timeout.total_seconds(),
            ctx.logger,
        )

    def batch_limit(self) -> int:
        """Return `batch_size`: the deliveries written by one round of requests."""
        return self.settings.batch_size

    async def start(self) -> None:
        """Get a token and check, through describe, every field the backend uses.

        Raises `AuthenticationError` (credentials refused) or `NotReadyError` naming each field
        to create or fix: the host calls `start` again later, so a fixed org is picked up
        without a restart.
        """
        needs = requirements(self.settings)
        described: dict[str, Any] = {}
        for sobject in dict.fromkeys(need.sobject for need in needs):
            try:
                answer = await self._client.call("GET", f"/sobjects/{sobject}/describe")
            except DeliveryError as exc:
                raise NotReadyError(f"Salesforce describe of {sobject} failed: {exc}") from None
            described[sobject] = answer.body if isinstance(answer.body, Mapping) else {}
        if problems := check(needs, described):
            raise NotReadyError(
                "the Salesforce org lacks what the backend needs (see "
                "docs/backends/salesforce.md): " + "; ".join(problems)
            )

    async def health_check(self) -> None:
        """Read the org's limits: proves Salesforce answers and takes the credentials."""
        answer = await self._client.call("GET", "/limits")
        daily = answer.body.get("DailyApiRequests") if isinstance(answer.body, Mapping) else None
        if isinstance(daily, Mapping):
            self.ctx.logger.debug(
                "backend %s: %s of %s daily API requests left",
                self.ctx.name,
                daily.get("Remaining"),
                daily.get("Max"),
            )

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Write `batch` in a few requests; one outcome per delivery, in order."""
        run = Run.of(self._client, batch)
        messages = [i for i in run.items if i.delivery.interaction.type != "status"]
        receipts = [i for i in run.items if i.delivery.interaction.type == "status"]
        await self._contacts(run, messages)
        if self.settings.cases:
            await self._cases(run, run.pending(messages))
        tasks = await self._existing_tasks(run, run.pending(messages), receipts)
        if tasks is not None:
            await self._tasks(run, run.pending(messages), tasks)
            await self._receipts(run, run.pending(receipts), tasks)
        for note in run.notes:
            self.ctx.logger.info("backend %s: %s", self.ctx.name, note)
        return run.outcomes()

    async def _contacts(self, run: Run, items: list[Item]) -> None:
        """Find each customer's Contact by the customer-id field; create or fill it."""

        def changes(group: list[Item], current: Mapping[str, Any] | None) -> dict[str, Any]:
            fields: dict[str, Any] = contact_changes(
                (i.delivery.interaction for i in group), current
            )
            if current is None and self.settings.owner_id:
                fields["OwnerId"] = self.settings.owner_id
            return fields

        customers = _grouped(items, lambda i: i.customer_id)
        key = self.settings.contact_id_field
        ids = await self._resolve(run, "Contact", key, customers, CONTACT_FIELDS, changes)
        for customer_id, group in customers.items():
            for item in run.pending(group):
                item.contact = ids.get(customer_id)

    async def _cases(self, run: Run, items: list[Item]) -> None:
        """Find or open each conversation's Case; an existing Case is never changed."""

        def opening(group: list[Item], current: Mapping[str, Any] | None) -> dict[str, Any]:
            if current is not None:
                return {}
            fields: dict[str, Any] = case_fields(group[0].delivery.interaction)
            optional = {
                "ContactId": group[0].contact,
                "Status": self.settings.case_status,
                "OwnerId": self.settings.owner_id,
            }
            return fields | {name: value for name, value in optional.items() if value}

        conversations = _grouped(items, lambda i: i.conversation_id)
        key = self.settings.case_id_field
        ids = await self._resolve(run, "Case", key, conversations, (), opening)
        for conversation, group in conversations.items():
            for item in run.pending(group):
                item.case = ids.get(conversation)

    async def _resolve(
        self,
        run: Run,
        sobject: str,
        key: str,
        groups: Mapping[str, list[Item]],
        read: Sequence[str],
        fields_of: Callable[[list[Item], Mapping[str, Any] | None], dict[str, Any]],
    ) -> dict[str, str]:
        """Read the records of `groups` by `key`, write what `fields_of` says (for a record
        found, or None: to create); return the record id of each key value."""
        if not groups:
            return {}
        members = [item for group in groups.values() for item in group]
        found = await run.query(members, sobject, read, key, groups)
        if found is None:
            return {}
        writes: dict[str, Write] = {}
        for value, group in groups.items():
            if fields := fields_of(group, found.get(value)):
                writes[value] = (fields, group)
        ids = {value: str(record["Id"]) for value, record in found.items()}
        return ids | await run.write(sobject, writes, key=key)

    async def _existing_tasks(
        self, run: Run, messages: list[Item], receipts: list[Item]
    ) -> dict[str, str] | None:
        """Return the Task ids of the keys this batch writes or receipts are about."""
        keys = [task_key(i.delivery.interaction) for i in messages]
        if self.settings.delivery_status_field:
            keys += [receipt_key(i.delivery.interaction) for i in receipts]
        if not keys:
            return {}
        key = self.settings.task_id_field
        found = await run.query([*messages, *receipts], "Task", (), key, keys)
        return None if found is None else {k: str(r["Id"]) for k, r in found.items()}

    async def _tasks(self, run: Run, items: list[Item], existing: dict[str, str]) -> None:
        """Upsert each interaction's Task by its key; events of one call make one Task."""
        keyed = _grouped(items, task_key)
        writes: dict[str, Write] = {}
        for key, group in keyed.items():
            fields: dict[str, Any] = {}
            for item in group:  # events of one call: later ones complete earlier ones
                fields |= task_fields(
                    item.delivery.interaction,
                    status=self.settings.task_status,
                    new=key not in existing,
                )
            last = group[-1]
            if last.contact:
                fields["WhoId"] = last.contact
            if last.case:
                fields["WhatId"] = last.case
            if key not in existing and self.settings.owner_id:
                fields["OwnerId"] = self.settings.owner_id
            writes[key] = (fields, group)
        existing |= await run.write("Task", writes, key=self.settings.task_id_field)

    async def _receipts(self, run: Run, items: list[Item], existing: Mapping[str, str]) -> None:
        """Write each receipt's state on its message's Task; a Task missing is a no-op."""
        field = self.settings.delivery_status_field
        updates: dict[str, tuple[dict[str, Any], list[Item]]] = {}
        for item in items:
            receipt = item.delivery.interaction
            task = existing.get(receipt_key(receipt)) if field else None
            if field is None or task is None:
                if field is not None:
                    run.notes.append(f"receipt for {receipt_key(receipt)!r} skipped: no such Task")
                run.decide([item], Delivered())
                continue
            _, group = updates.setdefault(task, ({}, []))
            updates[task] = ({field: receipt_value(receipt)}, [*group, item])
        await run.write("Task", updates)

    async def merge_customers(self, merge: CustomerMerge) -> Outcome:
        """Move the merged customer's Tasks and Cases to the survivor's Contact; delete theirs.

        With no survivor Contact yet, the merged customer's Contact becomes the survivor's (its
        customer-id field is rewritten). Idempotent: a Contact already gone is skipped.
        """
        survivors = _contact_ids(merge.survivor_refs)
        merged = [c for c in _contact_ids(merge.merged_refs) if c not in survivors]
        if not merged:
            return Delivered()
        if not survivors:
            target, merged = merged[0], merged[1:]
            record = {"attributes": {"type": "Contact"}, "id": target,
                      self.settings.contact_id_field: merge.survivor_id}  # fmt: skip
            done = await self._collection("PATCH", "/composite/sobjects", [record])
            if not isinstance(done, Answer):
                return done
        else:
            target = survivors[0]
        for contact in merged:
            for sobject, link in self._links():
                moved = await self._move(sobject, link, contact, target)
                if moved is not None:
                    return moved
            if (failed := await self._delete_contact(contact)) is not None:
                return failed
        return Delivered(record_refs=(f"contact {target}",))

    async def unmerge_customers(self, merge: CustomerMerge) -> Outcome:
        """Refuse: the merged Contact was deleted; say what to do instead."""
        return Rejected(
            f"unmerge of {merge.merged_id} from {merge.survivor_id} not done in Salesforce: the "
            "merged Contact was deleted and its Tasks moved; the next interaction of "
            f"{merge.merged_id} creates their Contact again, move their older Tasks to it by hand"
        )

    async def erase_customer(self, erasure: CustomerErasure) -> Outcome:
        """Delete the customer's Tasks (and Cases, with `cases: true`), then their Contact.

        Deleted records go to Salesforce's Recycle Bin (emptied after 15 days). Idempotent: a
        Contact already gone counts as erased.
        """
        for contact in _contact_ids(erasure.record_refs):
            for sobject, link in self._links():
                ids = await self._ids_of(sobject, link, contact)
                if not isinstance(ids, list):
                    return ids
                for start in range(0, len(ids), COLLECTION_LIMIT):
                    chunk = ",".join(ids[start : start + COLLECTION_LIMIT])
                    done = await attempt(
                        self._client,
                        "DELETE",
                        "/composite/sobjects",
                        params={"ids": chunk, "allOrNone": "false"},
                    )
                    if not isinstance(done, Answer):
                        return done
            if (failed := await self._delete_contact(contact)) is not None:
                return failed
        return Delivered()

    async def _delete_contact(self, contact: str) -> Outcome | None:
        """Delete one Contact (404: gone already); return the outcome of a failure."""
        path = f"/sobjects/Contact/{contact}"
        gone = await attempt(self._client, "DELETE", path, missing_ok=True)
        return None if isinstance(gone, Answer) else gone

    def _links(self) -> list[tuple[str, str]]:
        """Return the (SObject, Contact lookup field) pairs that hang on a Contact."""
        return [("Task", "WhoId"), *([("Case", "ContactId")] if self.settings.cases else [])]

    async def _ids_of(self, sobject: str, link: str, contact: str) -> list[str] | Outcome:
        """Return the ids of the `sobject` records whose `link` is `contact` (every page)."""
        [listed] = soql_in([contact])
        path = "/query"
        params: dict[str, str] | None = {"q": f"SELECT Id FROM {sobject} WHERE {link} = {listed}"}
        ids: list[str] = []
        while True:
            page = await attempt(self._client, "GET", path, params=params)
            if not isinstance(page, Answer):
                return page
            body = page.body if isinstance(page.body, Mapping) else {}
            ids += [str(r["Id"]) for r in body.get("records") or () if isinstance(r, Mapping)]
            following = body.get("nextRecordsUrl")
            if body.get("done", True) or not isinstance(following, str):
                return ids
            path, params = "/query/" + following.rsplit("/", 1)[-1], None

    async def _move(self, sobject: str, link: str, contact: str, target: str) -> Outcome | None:
        """Point every `sobject` of `contact` at `target`; return the outcome of a failure."""
        ids = await self._ids_of(sobject, link, contact)
        if not isinstance(ids, list):
            return ids
        for start in range(0, len(ids), COLLECTION_LIMIT):
            records = [{"attributes": {"type": sobject}, "id": i, link: target}
                       for i in ids[start : start + COLLECTION_LIMIT]]  # fmt: skip
            done = await self._collection("PATCH", "/composite/sobjects", records)
            if not isinstance(done, Answer):
                return done
        return None

    async def _collection(
        self, method: str, path: str, records: list[dict[str, Any]]
    ) -> Answer | Outcome:
        """Send one sObject Collections write; any record refused is the outcome."""
        done = await attempt(
            self._client, method, path, json={"allOrNone": False, "records": records}
        )
        if not isinstance(done, Answer):
            return done
        for result in done.body if isinstance(done.body, list) else []:
            if isinstance(result, Mapping) and not result.get("success"):
                return Rejected(self._client.redact(f"Salesforce refused {result}"))
        return done


def _grouped(
    items: Iterable[Item], key_of: Callable[[Interaction], str | None]
) -> dict[str, list[Item]]:
    """Group items by `key_of` their interaction, in order; items without a key are left out."""
    groups: dict[str, list[Item]] = {}
    for item in items:
        if (key := key_of(item.delivery.interaction)) is not None:
            groups.setdefault(key, []).append(item)
    return groups


def _contact_ids(refs: Iterable[str]) -> list[str]:
    """Return the Contact ids among crosswalk refs (`contact 003...`)."""
    ids = []
    for ref in refs:
        kind, _, record_id = ref.partition(" ")
        if kind == "contact" and record_id:
            ids.append(record_id)
    return ids
