"""gateway_salesforce: Salesforce as a Channel Gateway backend.

One Contact per gateway customer (upserted by an external-id field), every interaction an
upserted Task on it, optionally one Case per conversation; customer merges and erasure follow
the gateway's. See docs/backends/salesforce.md.
"""

from __future__ import annotations

from gateway.plugin import BackendRegistry, hookimpl
from gateway_salesforce.backend import SalesforceBackend
from gateway_salesforce.settings import SalesforceSettings

__all__ = ["SalesforceBackend", "SalesforceSettings", "gateway_register_backends"]


@hookimpl
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Register the `salesforce` backend."""
    registry.add(SalesforceBackend)
