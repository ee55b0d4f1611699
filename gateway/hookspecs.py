"""The hooks a plugin implements. Each is called once, at start-up, never per message."""

from __future__ import annotations

import pluggy

from gateway.registry import BackendRegistry, ChannelRegistry, EnricherRegistry

hookspec = pluggy.HookspecMarker("gateway")


@hookspec
def gateway_register_channels(registry: ChannelRegistry) -> None:
    """Add this plugin's channel classes: `registry.add(MyChannel)`.

    Called once at start-up, before the configuration is validated.
    """


@hookspec
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Add this plugin's backend classes: `registry.add(MyBackend)`.

    Called once at start-up, before the configuration is validated.
    """


@hookspec
def gateway_register_enrichers(registry: EnricherRegistry) -> None:
    """Add this plugin's enricher classes: `registry.add(MyEnricher)`.

    Called once at start-up. An enricher runs only where the configuration's `enrichers` names it.
    """
