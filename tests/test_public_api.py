"""The public modules plugin authors import, pinned: changing them is a deliberate act."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "gateway.plugin": [
        "MAX_ANSWER_BYTES", "Backend", "BackendContext", "BackendRegistry", "BackendSettings",
        "Channel", "ChannelContext", "ChannelRegistry", "ChannelSettings", "CustomerErasure",
        "CustomerMerge", "Delivered", "Delivery", "Duration", "Enricher", "EnricherRegistry",
        "EnricherSettings", "ErasesCustomers", "MergesCustomers", "OneOrMany", "Outcome",
        "Rejected", "Retry", "RetrySettings", "SenderSettings", "UNKNOWN_OUTCOME",
        "WebhookRequest", "WebhookResponse", "hookimpl",
        "normalize_email", "normalize_identity", "normalize_phone",
        "parse_retry_after", "payload_error", "raise_for_delivery_status",
        # One send request for a channel's sender (issue 15).
        "ProviderAnswer", "send_to_provider",
    ],
    "gateway.schema": [
        "CHANNEL_KINDS", "SCHEMA_VERSION", "STATUS_RANK", "Attachment", "CallInfo", "ChannelKind",
        "ChannelRef", "Content", "ConversationContext", "Direction", "Identity", "Interaction",
        "InteractionType", "Party", "StatusInfo", "StatusState", "new_interaction_id",
        # The bounds of every value (issue 10): plugins check theirs and name the field.
        "EARLIEST", "LATEST", "MAX_ATTACHMENTS", "MAX_DURATION_S", "MAX_ID", "MAX_IDENTITIES",
        "MAX_METADATA", "MAX_METADATA_KEY", "MAX_SHORT", "MAX_SIZE", "MAX_TEXT", "in_range",
        # The metadata key of an auto-reply or bounce, which is never a repeat contact.
        "AUTOMATED",
    ],
    "gateway.errors": [
        "AuthenticationError", "ConfigError", "DeliveryError", "GatewayError", "NotReadyError",
        "PayloadError", "PermanentDeliveryError", "PluginLoadError", "SignatureError",
        "StoreUnavailableError", "TransientDeliveryError",
    ],
    "gateway.testing": [
        "BackendConformance", "ChannelCase", "ChannelConformance", "FakeCRM", "GatewayFactory",
        "GatewayProcess", "GatewayUnderTest", "Journey", "RecordedRequest", "Recordings",
        "Webhook", "claimed_chat", "compare_digest_calls", "customer_interactions", "eventually",
        "free_port", "gateway_factory", "golden", "keys_in_source", "make_channel",
        "make_interaction", "run_channel", "standard_webhook_headers", "undocumented",
        "webhook_request",
        # The `webhook` backend's receiver every end-to-end test delivers to (issue 15).
        "HOOK_SECRET", "WebhookReceiver", "webhook_receiver",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_module_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name} is in __all__ but missing"
