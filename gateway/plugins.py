"""Discover, load and register plugins: the core's built-ins first, then entry points."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points, version
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from gateway import hookspecs
from gateway.errors import PluginLoadError
from gateway.registry import (
    BackendRegistry,
    ChannelRegistry,
    EnricherRegistry,
    PluginSource,
    Registry,
)

__all__ = ["BUILTIN_PLUGINS", "ENTRY_POINT_GROUP", "Plugins", "load_plugins"]

ENTRY_POINT_GROUP = "gateway.plugins"
DISABLE_ENV = "GATEWAY_DISABLE_PLUGINS"
CORE_DISTRIBUTION = "channel-gateway"

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("generic", "gateway.builtins.generic"),
    ("log", "gateway.builtins.log"),
    ("webhook", "gateway.builtins.webhook"),
)
"""The core's own plugins (name, module), registered through the same hooks as everyone's."""

R = TypeVar("R", bound=Registry[Any])


@dataclass(frozen=True, slots=True)
class Plugins:
    """Everything the loaded plugins registered."""

    channels: ChannelRegistry
    backends: BackendRegistry
    enrichers: EnricherRegistry
    sources: tuple[PluginSource, ...]


def disabled_from_env() -> frozenset[str]:
    """Return the plugin names listed in GATEWAY_DISABLE_PLUGINS."""
    return frozenset(n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip())


def load_plugins(
    disabled: Iterable[str] | None = None, extra: Iterable[tuple[PluginSource, ModuleType]] = ()
) -> Plugins:
    """Load the built-ins, every `gateway.plugins` entry point and `extra`, skipping `disabled`."""
    skip = disabled_from_env() if disabled is None else frozenset(disabled)
    manager = pluggy.PluginManager("gateway")
    manager.add_hookspecs(hookspecs)
    sources: dict[str, PluginSource] = {}

    def register(module: ModuleType, source: PluginSource) -> None:
        if source.plugin in skip:
            return
        try:
            manager.register(module, name=source.plugin)
        except ValueError as exc:
            raise PluginLoadError(f"{source}: cannot register: {exc}") from exc
        sources[source.plugin] = source

    core_version = version(CORE_DISTRIBUTION)
    for name, module_name in BUILTIN_PLUGINS:
        register(
            importlib.import_module(module_name),
            PluginSource(name, CORE_DISTRIBUTION, core_version),
        )
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in skip:
            register(*_import_entry_point(entry_point))
    for source, module in extra:
        register(module, source)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        culprit = manager.get_name(exc.plugin)
        raise PluginLoadError(f"{sources[culprit] if culprit else exc.plugin}: {exc}") from exc

    def collect(registry: R, hook_name: str) -> R:
        caller: pluggy.HookCaller = getattr(manager.hook, hook_name)
        # One call per plugin, in registration order, so each class is credited to its plugin.
        for impl in reversed(caller.get_hookimpls()):
            source = sources[impl.plugin_name]
            try:
                impl.function(registry=registry.registering_for(source))
            except PluginLoadError:
                raise
            except Exception as exc:
                raise PluginLoadError(f"{source}: {hook_name} failed: {exc!r}") from exc
        return registry

    return Plugins(
        channels=collect(ChannelRegistry(), "gateway_register_channels"),
        backends=collect(BackendRegistry(), "gateway_register_backends"),
        enrichers=collect(EnricherRegistry(), "gateway_register_enrichers"),
        sources=tuple(sources.values()),
    )


def _import_entry_point(entry_point: EntryPoint) -> tuple[ModuleType, PluginSource]:
    dist = entry_point.dist
    source = PluginSource(
        entry_point.name,
        dist.name if dist else "<unknown distribution>",
        dist.version if dist else "?",
    )
    try:
        module = entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            f"plugin entry point '{entry_point.name}' ({entry_point.value}) from "
            f"{source.distribution} {source.version} failed to import: {exc!r}; "
            f"reinstall it, or skip it with {DISABLE_ENV}={entry_point.name}"
        ) from exc
    if not isinstance(module, ModuleType):
        raise PluginLoadError(f"{source}: entry point must name a module, got {module!r}")
    return module, source
