"""What happens to parsed interactions before the commit: enrichers, then routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.enricher import Enricher
from gateway.routing import Router
from gateway.schema import Interaction
from gateway.store.base import CommitItem

__all__ = ["Pipeline", "order_key"]


class Pipeline:
    """Turns a channel's interactions into commit items: enriched, with their backends."""

    def __init__(self, enrichers: Sequence[Enricher[Any]], router: Router) -> None:
        self._enrichers = tuple(enrichers)
        self._router = router

    def prepare(self, interactions: Sequence[Interaction]) -> list[CommitItem]:
        """Run every enricher in order, then route; dedupe happens in the commit itself."""
        items = []
        for interaction in interactions:
            for enricher in self._enrichers:
                interaction = enricher.enrich(interaction)
            backends = self._router.backends_for(interaction)
            items.append(CommitItem(interaction, backends, order_key(interaction)))
        return items


def order_key(interaction: Interaction) -> str | None:
    """Return the key that keeps one customer's deliveries in order (None: no customer known).

    The customer id once identity resolution knows it, else the customer's first identity:
    the sender of inbound traffic, the recipient of outbound.
    """
    if interaction.customer_id:
        return interaction.customer_id
    party = interaction.sender if interaction.direction == "inbound" else interaction.recipient
    if party.identities:
        first = party.identities[0]
        return f"{first.kind}:{first.value}"
    return None
