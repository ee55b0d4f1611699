"""gateway_hubspot: HubSpot as a Channel Gateway backend.

One contact per gateway customer, every interaction an engagement associated to it
(communications, calls, e-mails, notes), receipts updating their message, optionally one ticket
per conversation; customer merges and erasure follow the gateway's. See docs/backends/hubspot.md.
"""

from __future__ import annotations

from gateway.plugin import BackendRegistry, hookimpl
from gateway_hubspot.backend import HubSpotBackend
from gateway_hubspot.settings import HubSpotSettings

__all__ = ["HubSpotBackend", "HubSpotSettings", "gateway_register_backends"]


@hookimpl
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Register the `hubspot` backend."""
    registry.add(HubSpotBackend)
