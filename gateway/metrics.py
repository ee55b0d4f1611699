"""Every Prometheus metric the gateway exports, defined in one place against one registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

from gateway.identity import IDENTITY_EVENTS
from gateway.service_events import Chase, ServiceEvent

__all__ = ["ChannelMetrics", "LaneMetrics", "Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_DELIVERY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
    21600,
)
_SERVICE_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 604800)
"""A minute to a week: how long customers wait for a first response."""


class ChannelMetrics:
    """One channel's ingest metrics, resolved once: `labels()` costs a lock per call."""

    def __init__(self, metrics: Metrics, channel_id: str) -> None:
        self._requests = metrics.webhook_requests
        self._outcomes: dict[str, Counter] = {}
        self.channel_id = channel_id
        self.signature_failures = metrics.signature_failures.labels(channel_id)
        self.duplicates = metrics.duplicates.labels(channel_id)
        self.stored = metrics.interactions_stored.labels(channel_id)
        self.latency = metrics.ingest_latency.labels(channel_id)

    def request(self, outcome: str) -> None:
        """Count one webhook request with its outcome."""
        counter = self._outcomes.get(outcome)
        if counter is None:
            counter = self._outcomes[outcome] = self._requests.labels(self.channel_id, outcome)
        counter.inc()


class LaneMetrics:
    """One delivery target's per-delivery metrics, resolved once (as `ChannelMetrics`)."""

    def __init__(self, metrics: Metrics, backend: str) -> None:
        self.delivered = metrics.deliveries.labels(backend, "delivered")
        self.retried = metrics.deliveries.labels(backend, "retried")
        self.dead = metrics.deliveries.labels(backend, "dead")
        self.attempts = metrics.delivery_attempts.labels(backend)
        self.immediate_retries = metrics.delivery_retries.labels(backend, "immediate")
        self.rescheduled = metrics.delivery_retries.labels(backend, "rescheduled")
        self.dead_letters = metrics.dead_letters.labels(backend)
        self.latency = metrics.delivery_latency.labels(backend)
        self.circuit = metrics.circuit_state.labels(backend)


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
        self.identity_events = Counter(
            "gateway_identity_events",
            "Identity graph changes made by incoming interactions: `customer_created`,"
            " `merged` (two customers became one), `proposed` (a merge left to an operator),"
            " `merge_held_unverified` (a merge held back: one side asserted, not verified),"
            " `claimed` (an interaction reached its customer through asserted identities only).",
            ["event"],
            registry=self.registry,
        )
        for event in IDENTITY_EVENTS:
            self.identity_events.labels(event)
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
        self.deliveries = Counter(
            "gateway_deliveries",
            "Delivery outcomes by backend: delivered, retried (rescheduled) or dead.",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self.delivery_attempts = Counter(
            "gateway_delivery_attempts",
            "Calls made to deliver one delivery (each in-process retry counts).",
            ["backend"],
            registry=self.registry,
        )
        self.delivery_retries = Counter(
            "gateway_delivery_retries",
            "Retries by kind: immediate (in-process, for blips) or rescheduled (in the store).",
            ["backend", "kind"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "gateway_dead_letters",
            "Deliveries moved to the dead-letter queue.",
            ["backend"],
            registry=self.registry,
        )
        self.dead_letter_queue = Gauge(
            "gateway_dead_letter_queue",
            "Deliveries in the dead-letter queue now.",
            ["backend"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "gateway_delivery_queue_depth",
            "Deliveries pending or in flight.",
            ["backend"],
            registry=self.registry,
        )
        self.delivery_lag = Gauge(
            "gateway_delivery_lag_seconds",
            "How long the most overdue pending delivery has been due.",
            ["backend"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "gateway_delivery_latency_seconds",
            "Time from receiving an interaction to its delivery, by backend.",
            ["backend"],
            buckets=_DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.circuit_state = Enum(
            "gateway_circuit_state",
            "Circuit breaker state per backend.",
            ["backend"],
            states=["closed", "open", "half_open"],
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "gateway_delivery_worker_restarts",
            "Delivery workers (and customer-event followers) restarted after an unexpected error.",
            ["backend"],
            registry=self.registry,
        )
        self.lane_up = Gauge(
            "gateway_delivery_lane_up",
            "1 while a backend has started and none of its workers is down, else 0.",
            ["backend"],
            registry=self.registry,
        )
        self.backend_auth_failures = Counter(
            "gateway_backend_auth_failures",
            "Times a backend's credentials were refused (delivery, start or re-check).",
            ["backend"],
            registry=self.registry,
        )
        self.identities_unusable = Counter(
            "gateway_identities_unusable",
            "Identities left out of matching (empty, withheld caller, invalid), by channel, kind"
            " (`other` for provider kinds the gateway does not know) and reason.",
            ["channel", "kind", "reason"],
            registry=self.registry,
        )
        self.first_response = Histogram(
            "gateway_first_response_seconds",
            "Time from a conversation's first unanswered inbound contact to the first outbound"
            " after it, by the channel kind of that inbound contact.",
            ["channel_kind"],
            buckets=_SERVICE_BUCKETS,
            registry=self.registry,
        )
        self.chases = Counter(
            "gateway_chases",
            "Customers who came back on another channel before any answer (a repeat contact),"
            " by the channel kind of the unanswered contact and of the new one.",
            ["from_kind", "to_kind"],
            registry=self.registry,
        )
        self.unanswered_conversations = Gauge(
            "gateway_unanswered_conversations",
            "Open conversations whose latest non-automated contact is inbound (counted from the"
            " store at a scrape; a slow count shows the last value, see docs/operations.md).",
            registry=self.registry,
        )
        self._channels: dict[str, ChannelMetrics] = {}
        self._lanes: dict[str, LaneMetrics] = {}

    def channel(self, channel_id: str) -> ChannelMetrics:
        """Return the ingest metrics of a configured channel."""
        found = self._channels.get(channel_id)
        if found is None:
            found = self._channels[channel_id] = ChannelMetrics(self, channel_id)
        return found

    def lane(self, backend: str) -> LaneMetrics:
        """Return the delivery metrics of a delivery target (a backend or a sender)."""
        found = self._lanes.get(backend)
        if found is None:
            found = self._lanes[backend] = LaneMetrics(self, backend)
        return found

    def service(self, event: ServiceEvent) -> None:
        """Observe what a committed interaction did to its conversation's service."""
        if isinstance(event, Chase):
            self.chases.labels(event.from_kind, event.to_kind).inc()
        else:
            self.first_response.labels(event.channel_kind).observe(event.seconds)
