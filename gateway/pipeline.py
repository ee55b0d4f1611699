"""What happens to parsed interactions before the commit: enrichers, then routing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.enricher import Enricher
from gateway.routing import Router
from gateway.schema import Interaction
from gateway.store.base import CommitItem

__all__ = ["Pipeline"]


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
            items.append(CommitItem(interaction, self._router.backends_for(interaction)))
        return items
