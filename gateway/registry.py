"""Typed registries that plugins fill from their registration hooks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from gateway.backend import Backend
from gateway.channel import Channel
from gateway.enricher import Enricher
from gateway.errors import PluginLoadError
from gateway.schema import CHANNEL_KINDS

__all__ = [
    "BackendRegistry",
    "ChannelRegistry",
    "EnricherRegistry",
    "PluginSource",
    "Registration",
    "Registry",
]


@dataclass(frozen=True, slots=True)
class PluginSource:
    """Where a registered class comes from: the plugin's name and its distribution."""

    plugin: str
    distribution: str
    version: str

    def __str__(self) -> str:
        return f"{self.distribution} {self.version} (plugin '{self.plugin}')"


T = TypeVar("T", bound=type[Any])


@dataclass(frozen=True, slots=True)
class Registration(Generic[T]):
    """A registered class and the plugin that registered it."""

    cls: T
    source: PluginSource


class Registry(Generic[T]):
    """Classes by their YAML `type`; `add` is what a plugin's registration hook calls."""

    what = "plugin"
    base: type[Any] = object

    def __init__(self) -> None:
        self._items: dict[str, Registration[T]] = {}
        self._source: PluginSource | None = None

    def registering_for(self, source: PluginSource) -> Registry[T]:
        """Attribute the next `add` calls to `source` (the host calls this, plugins do not)."""
        self._source = source
        return self

    def add(self, cls: T) -> None:
        """Register `cls` under its `type_name`."""
        source = self._source or PluginSource("<direct>", "<unknown>", "")
        self._check(cls, source)
        if existing := self._items.get(cls.type_name):
            raise PluginLoadError(
                f"{self.what} type '{cls.type_name}' is registered twice: by {existing.source} "
                f"and by {source}; uninstall one or disable it with GATEWAY_DISABLE_PLUGINS"
            )
        self._items[cls.type_name] = Registration(cls, source)

    def _check(self, cls: T, source: PluginSource) -> None:
        def fail(problem: str) -> PluginLoadError:
            return PluginLoadError(f"{source}: {self.what} class {cls!r} {problem}")

        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise fail(f"is not a subclass of {self.base.__qualname__}")
        for attribute in ("type_name", "settings_model"):
            if not hasattr(cls, attribute):
                raise fail(f"does not set {attribute}")
        if not (isinstance(cls.settings_model, type) and issubclass(cls.settings_model, BaseModel)):
            raise fail("has a settings_model that is not a pydantic model")

    def __getitem__(self, type_name: str) -> Registration[T]:
        return self._items[type_name]

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._items

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(sorted(self._items.values(), key=lambda r: r.cls.type_name))

    def type_names(self) -> list[str]:
        """Return every registered type name, sorted."""
        return sorted(self._items)


class ChannelRegistry(Registry[type[Channel[Any]]]):
    """Channel classes by type name."""

    what = "channel"
    base = Channel

    def _check(self, cls: type[Channel[Any]], source: PluginSource) -> None:
        super()._check(cls, source)
        for attribute in ("kind", "provider"):
            if not hasattr(cls, attribute):
                raise PluginLoadError(f"{source}: channel class {cls!r} does not set {attribute}")
        if cls.kind not in CHANNEL_KINDS:
            raise PluginLoadError(
                f"{source}: channel class {cls!r} has kind {cls.kind!r}; "
                f"expected one of {', '.join(CHANNEL_KINDS)}"
            )


class BackendRegistry(Registry[type[Backend[Any]]]):
    """Backend classes by type name."""

    what = "backend"
    base = Backend


class EnricherRegistry(Registry[type[Enricher[Any]]]):
    """Enricher classes by type name."""

    what = "enricher"
    base = Enricher
