"""The API plugin authors write against: base classes, registries, context and `hookimpl`.

A plugin is a module with `@hookimpl` functions, published under the `gateway.plugins`
entry-point group::

    from gateway.plugin import ChannelRegistry, hookimpl

    @hookimpl
    def gateway_register_channels(registry: ChannelRegistry) -> None:
        registry.add(MyChannel)
"""

from __future__ import annotations

import pluggy

from gateway.backend import (
    UNKNOWN_OUTCOME,
    Backend,
    BackendContext,
    BackendSettings,
    CustomerErasure,
    CustomerMerge,
    Delivered,
    Delivery,
    ErasesCustomers,
    MergesCustomers,
    Outcome,
    Rejected,
    Retry,
    RetrySettings,
    SenderSettings,
)
from gateway.backend_http import MAX_ANSWER_BYTES, parse_retry_after, raise_for_delivery_status
from gateway.channel import Channel, ChannelContext, ChannelSettings, payload_error
from gateway.enricher import Enricher, EnricherSettings
from gateway.normalize import normalize_email, normalize_identity, normalize_phone
from gateway.provider_send import ProviderAnswer, send_to_provider
from gateway.registry import BackendRegistry, ChannelRegistry, EnricherRegistry
from gateway.request import WebhookRequest, WebhookResponse
from gateway.settings_types import Duration, OneOrMany

__all__ = [
    "MAX_ANSWER_BYTES",
    "UNKNOWN_OUTCOME",
    "Backend",
    "BackendContext",
    "BackendRegistry",
    "BackendSettings",
    "Channel",
    "ChannelContext",
    "ChannelRegistry",
    "ChannelSettings",
    "CustomerErasure",
    "CustomerMerge",
    "Delivered",
    "Delivery",
    "Duration",
    "Enricher",
    "EnricherRegistry",
    "EnricherSettings",
    "ErasesCustomers",
    "MergesCustomers",
    "OneOrMany",
    "Outcome",
    "ProviderAnswer",
    "Rejected",
    "Retry",
    "RetrySettings",
    "SenderSettings",
    "WebhookRequest",
    "WebhookResponse",
    "hookimpl",
    "normalize_email",
    "normalize_identity",
    "normalize_phone",
    "parse_retry_after",
    "payload_error",
    "raise_for_delivery_status",
    "send_to_provider",
]

hookimpl = pluggy.HookimplMarker("gateway")
"""Marks a plugin module's hook implementations."""
