"""Every Prometheus metric the gateway exports, defined in one place against one registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The gateway's metrics; tests pass a fresh `CollectorRegistry` each."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.webhook_requests = Counter(
            "gateway_webhook_requests",
            "Webhook requests by channel and outcome (stored, duplicate, handshake, or an error).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.signature_failures = Counter(
            "gateway_signature_failures",
            "Webhooks rejected because their signature did not verify.",
            ["channel"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "gateway_duplicate_interactions",
            "Interactions received again (provider retries) and not stored twice.",
            ["channel"],
            registry=self.registry,
        )
        self.interactions_stored = Counter(
            "gateway_interactions_stored",
            "Interactions durably stored.",
            ["channel"],
            registry=self.registry,
        )
        self.commit_batch_size = Histogram(
            "gateway_commit_batch_size",
            "Webhook requests committed together in one store transaction (group commit).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.ingest_latency = Histogram(
            "gateway_ingest_latency_seconds",
            "Time from a webhook's arrival to its answer, by channel.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
