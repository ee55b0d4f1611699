"""The `zendesk` backend: one user per customer, one ticket per conversation, comments."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any

from gateway.errors import (
    AuthenticationError,
    DeliveryError,
    NotReadyError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from gateway.plugin import (
    Backend,
    BackendContext,
    CustomerErasure,
    CustomerMerge,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
    Retry,
)
from gateway.schema import Interaction
from gateway_zendesk.client import ZendeskClient
from gateway_zendesk.mapping import writes_comment
from gateway_zendesk.settings import ZendeskSettings
from gateway_zendesk.tickets import append_comment, create_ticket, find_ticket, has_comment
from gateway_zendesk.users import ensure_user, user_ids, users_by_external_id

__all__ = ["ZendeskBackend"]

AGENT_ROLES = frozenset({"agent", "admin"})
"""Roles whose API token can create users and tickets."""


class ZendeskBackend(Backend[ZendeskSettings]):
    """Writes every interaction as a comment on its conversation's ticket in Zendesk Support.

    Nothing is written twice: the user is matched by `external_id`, the ticket found by
    `external_id` before it is created (and created with an `Idempotency-Key`), and a comment
    appended only when no comment of the ticket carries the interaction's marker. See
    docs/backends/zendesk.md.
    """

    type_name = "zendesk"
    settings_model = ZendeskSettings

    def __init__(self, ctx: BackendContext, settings: ZendeskSettings) -> None:
        super().__init__(ctx, settings)
        self._client = ZendeskClient(
            ctx.http,
            settings.api_root(),
            settings.email,
            settings.api_token.get_secret_value(),
            settings.timeout.total_seconds(),
        )

    async def start(self) -> None:
        """Check the credentials; raise `AuthenticationError` or `NotReadyError` (retried)."""
        try:
            await self.health_check()
        except DeliveryError as exc:
            raise NotReadyError(f"Zendesk is not reachable: {exc}") from None

    async def health_check(self) -> None:
        """Read the authenticated user: proves Zendesk answers and takes the token.

        Zendesk answers `GET /api/v2/users/me` with an anonymous user (no id) rather than 401
        for some refused credentials: that is a failure too, as is an end user's token.
        """
        answer = await self._client.call("GET", "/api/v2/users/me")
        me = answer.record("user")
        if not isinstance(me.get("id"), int):
            raise AuthenticationError(
                f"Zendesk at {self._client.root} answered as an anonymous user: the e-mail "
                "address and API token were not accepted"
            )
        if me.get("role") not in AGENT_ROLES:
            raise AuthenticationError(
                f"the Zendesk user {self.settings.email} is {me.get('role')!r}; the API token "
                "must belong to an agent or admin"
            )

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Write each delivery in turn; one outcome per delivery, in order."""
        return [await self._guard(self._deliver(delivery)) for delivery in batch]

    async def _deliver(self, delivery: Delivery) -> Outcome:
        interaction = delivery.interaction
        if not writes_comment(interaction):
            return Delivered()
        if interaction.type == "status":
            return await self._receipt(interaction)
        if interaction.conversation_id is None or interaction.customer_id is None:
            return Rejected(
                f"interaction {interaction.id} has no customer or conversation; the gateway "
                "assigns both before delivery, so it cannot be written to Zendesk"
            )
        user_id = await ensure_user(
            self._client, interaction, delivery.record_refs, self.ctx.logger
        )
        lookup = await find_ticket(self._client, interaction.conversation_id)
        if lookup.open_id is None:
            ticket_id = await create_ticket(
                self._client, self.settings, interaction, user_id, lookup.closed_id
            )
        else:
            ticket_id = lookup.open_id
            if not await has_comment(self._client, ticket_id, interaction):
                await append_comment(
                    self._client, lookup, interaction, user_id, self.settings.public_comments
                )
        return Delivered(record_refs=(f"user {user_id}", f"ticket {ticket_id}"))

    async def _receipt(self, receipt: Interaction) -> Outcome:
        """Note a failed message on its conversation's open ticket; nothing if there is none."""
        if receipt.conversation_id is None:
            return Delivered()
        lookup = await find_ticket(self._client, receipt.conversation_id)
        if lookup.open_id is None:
            return Delivered()
        if not await has_comment(self._client, lookup.open_id, receipt):
            await append_comment(self._client, lookup, receipt, None, public=False)
        return Delivered(record_refs=(f"ticket {lookup.open_id}",))

    async def merge_customers(self, merge: CustomerMerge) -> Outcome:
        """Merge the merged customer's users into the survivor's (Zendesk's user merge).

        Without a survivor user, the merged customer's first user becomes the survivor's (its
        `external_id` changes). A user already merged (gone: 404) is skipped.
        """
        return await self._guard(self._merge(merge))

    async def _merge(self, merge: CustomerMerge) -> Outcome:
        survivors = user_ids(merge.survivor_refs) or await users_by_external_id(
            self._client, merge.survivor_id
        )
        merged = user_ids(merge.merged_refs) or await users_by_external_id(
            self._client, merge.merged_id
        )
        merged = [user for user in merged if user not in survivors]
        if not merged:
            return Delivered(record_refs=tuple(f"user {u}" for u in survivors[:1]))
        if not survivors:
            adopted = merged.pop(0)
            await self._client.call(
                "PUT",
                f"/api/v2/users/{adopted}",
                json={"user": {"external_id": merge.survivor_id}},
            )
            survivors = [adopted]
        for user in merged:
            await self._client.call(
                "PUT",
                f"/api/v2/users/{user}/merge",
                json={"user": {"id": survivors[0]}},
                missing_ok=True,
            )
        return Delivered(record_refs=(f"user {survivors[0]}",))

    async def unmerge_customers(self, merge: CustomerMerge) -> Outcome:
        """Refuse: Zendesk cannot split a merged user; say what to do instead."""
        return Rejected(
            f"Zendesk cannot unmerge users: the gateway split customer {merge.merged_id} from "
            f"{merge.survivor_id}, but their Zendesk user stays merged; if they are two people, "
            "create the second user in Zendesk by hand and move their tickets to it"
        )

    async def erase_customer(self, erasure: CustomerErasure) -> Outcome:
        """Delete the customer's users, then delete them permanently; gone (404) is done."""
        return await self._guard(self._erase(erasure))

    async def _erase(self, erasure: CustomerErasure) -> Outcome:
        users = user_ids(erasure.record_refs)
        users += await users_by_external_id(self._client, erasure.customer_id)
        for user in dict.fromkeys(users):
            await self._client.call("DELETE", f"/api/v2/users/{user}", missing_ok=True)
            await self._client.call("DELETE", f"/api/v2/deleted_users/{user}", missing_ok=True)
        return Delivered()

    async def _guard(self, work: Coroutine[Any, Any, Outcome]) -> Outcome:
        """Await `work`; a failure becomes its outcome (`AuthenticationError` propagates)."""
        try:
            return await work
        except TransientDeliveryError as exc:
            return Retry(self._client.redact(str(exc)), after_s=exc.retry_after)
        except PermanentDeliveryError as exc:
            return Rejected(self._client.redact(str(exc)))
