"""gateway_zendesk: Zendesk Support as a Channel Gateway backend.

One end user per gateway customer, one ticket per conversation, each interaction a comment on
it; customer merges and erasure follow the gateway's. See docs/backends/zendesk.md.
"""

from __future__ import annotations

from gateway.plugin import BackendRegistry, hookimpl
from gateway_zendesk.backend import ZendeskBackend
from gateway_zendesk.settings import ZendeskSettings

__all__ = ["ZendeskBackend", "ZendeskSettings", "gateway_register_backends"]


@hookimpl
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Register the `zendesk` backend."""
    registry.add(ZendeskBackend)
