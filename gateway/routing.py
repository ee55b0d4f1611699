"""Routing: which backends an interaction is delivered to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.config import Route
from gateway.schema import Interaction

__all__ = ["Router"]


@dataclass(frozen=True, slots=True)
class _Rule:
    channel_ids: frozenset[str] | None
    channel_kinds: frozenset[str] | None
    types: frozenset[str] | None
    directions: frozenset[str] | None
    backends: tuple[str, ...]

    def matches(self, interaction: Interaction) -> bool:
        return (
            (self.channel_ids is None or interaction.channel.id in self.channel_ids)
            and (self.channel_kinds is None or interaction.channel.kind in self.channel_kinds)
            and (self.types is None or interaction.type in self.types)
            and (self.directions is None or interaction.direction in self.directions)
        )


def _set(values: Sequence[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


class Router:
    """First matching route wins; with no routes, every backend gets everything."""

    def __init__(self, routes: Sequence[Route], backends: Sequence[str]) -> None:
        self._everything = tuple(backends)
        self._rules = tuple(
            _Rule(
                _set(route.match.channel_id),
                _set(route.match.channel_kind),
                _set(route.match.type),
                _set(route.match.direction),
                tuple(dict.fromkeys(route.to)),
            )
            for route in routes
        )

    def backends_for(self, interaction: Interaction) -> tuple[str, ...]:
        """Return the backends `interaction` goes to (none if no route matches)."""
        if not self._rules:
            return self._everything
        for rule in self._rules:
            if rule.matches(interaction):
                return rule.backends
        return ()
