"""The `webhook` backend: interactions as CloudEvents over HTTP, Standard Webhooks signed."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any, ClassVar

import aiohttp
import orjson
from pydantic import Field, HttpUrl, SecretStr, field_validator

from gateway import standard_webhooks
from gateway.config import is_loopback
from gateway.errors import PermanentDeliveryError, TransientDeliveryError
from gateway.plugin import (
    Backend,
    BackendRegistry,
    BackendSettings,
    CustomerErasure,
    CustomerMerge,
    Delivered,
    Delivery,
    Outcome,
    Rejected,
    Retry,
    hookimpl,
    raise_for_delivery_status,
)
from gateway.settings_types import OneOrMany
from gateway.standard_webhooks import WebhookSecret

EVENT_TYPE = "com.channel-gateway.interaction.v1"
CUSTOMER_EVENT_TYPES = {
    "merge": "com.channel-gateway.customer.merged.v1",
    "unmerge": "com.channel-gateway.customer.unmerged.v1",
    "erase": "com.channel-gateway.customer.erased.v1",
}
EVENT_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
_MAX_REFS = 20
RECEIVER_DOWN = frozenset({429, 502, 503, 504})
"""Statuses that speak for the whole receiver rather than one event, like a refused connection."""


class WebhookSettings(BackendSettings):
    """Settings of the `webhook` backend; `base_url` is ignored, `url` names the receiver."""

    url: HttpUrl
    """The receiver's `http` or `https` URL. Events are POSTed to it; redirects are not followed."""
    secret: OneOrMany[WebhookSecret]
    """Standard Webhooks secret (`whsec_...`) signing every request; a list adds one signature
    per secret (secret rotation). At least one must be non-empty."""
    batch_size: Annotated[int, Field(ge=1, le=100)] = 1
    """Events per request: 1 sends each event alone; more sends a JSON array of up to this many
    (`application/cloudevents-batch+json`)."""

    @field_validator("secret")
    @classmethod
    def _require_a_secret(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        if not any(secret.get_secret_value() for secret in secrets):
            raise ValueError("a non-empty secret (whsec_...) is required to sign requests")
        return secrets


def cloud_event(delivery: Delivery) -> dict[str, Any]:
    """Return a delivery's interaction as a CloudEvents 1.0 structured JSON event (ready for
    orjson).

    The records the receiver reported for this customer before (`record_refs`) travel as the
    `recordrefs` extension attribute: a JSON array in a string (extension values are strings).
    """
    interaction, record_refs = delivery.interaction, delivery.record_refs
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": interaction.id,
        "source": f"/channels/{interaction.channel.id}",
        "type": EVENT_TYPE,
        "time": interaction.occurred_at.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        # The stored JSON, or pydantic's: no intermediate dicts on the hot path.
        "data": orjson.Fragment(delivery.interaction_json()),
    }
    if interaction.customer_id:
        event["subject"] = interaction.customer_id
    if record_refs:
        event["recordrefs"] = orjson.dumps(list(record_refs)).decode()
    return event


def customer_event(
    action: str, event_id: str, subject: str, data: dict[str, Any], time_text: str
) -> dict[str, Any]:
    """Return a merge, unmerge or erasure as a CloudEvents 1.0 structured JSON event."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/customers",
        "type": CUSTOMER_EVENT_TYPES[action],
        "subject": subject,
        "time": time_text,
        "datacontenttype": "application/json",
        "data": data,
    }


def batch_id(interaction_ids: Sequence[str]) -> str:
    """Return a `webhook-id` for a batch that stays the same when the batch is sent again."""
    digest = hashlib.sha256("\n".join(sorted(interaction_ids)).encode()).hexdigest()
    return "batch_" + digest[:26]


class WebhookBackend(Backend[WebhookSettings]):
    """POSTs each interaction to `url` as a CloudEvent, signed the Standard Webhooks way.

    `webhook-id` is the interaction id (stable across retries, so receivers can deduplicate).
    With `batch_size` above 1, a request carries a JSON array of events and its outcome applies
    to all of them. `base_url` is ignored: `url` names the receiver.
    """

    type_name = "webhook"
    settings_model = WebhookSettings
    max_batch: ClassVar[int] = 100

    @cached_property
    def _keys(self) -> tuple[bytes, ...]:
        return standard_webhooks.decode_secrets(self.settings.secret)

    @cached_property
    def _secrets(self) -> frozenset[str]:
        """The secrets as a receiver might echo them: with and without `whsec_`."""
        values = [secret.get_secret_value() for secret in self.settings.secret]
        prefix = standard_webhooks.SECRET_PREFIX
        return frozenset(
            v for value in values if value for v in (value, value.removeprefix(prefix))
        )

    def batch_limit(self) -> int:
        """Return `batch_size`: one `deliver` call sends at most one request's worth."""
        return self.settings.batch_size

    async def start(self) -> None:
        """Warn when events would cross the network unencrypted; no network call."""
        url = self.settings.url
        if url.scheme == "http" and not is_loopback((url.host or "").strip("[]")):
            self.ctx.logger.warning(
                "backend %r posts to %s over plain http: events travel unencrypted; use https",
                self.ctx.name,
                url.host,
            )

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send `batch` in requests of `batch_size` events, in order; one outcome per delivery.

        Once the receiver as a whole fails (no connection, timeout, 429, 502, 503, 504), the
        rest of `batch` is not sent and is retried with the same reason and `after_s`. A 401 or
        403 (the receiver refused the signature: a secret to fix, not an event to drop) raises
        `AuthenticationError`, so the host keeps the events and re-checks later.
        """
        size = self.settings.batch_size
        outcomes: list[Outcome] = []
        for start in range(0, len(batch), size):
            group = batch[start : start + size]
            outcome, receiver_down = await self._send(group)
            outcomes += [outcome] * len(group)
            if receiver_down and isinstance(outcome, Retry):
                rest = Retry(
                    f"not attempted: {outcome.reason}", after_s=outcome.after_s, attempted=False
                )
                outcomes += [rest] * (len(batch) - len(outcomes))
                break
        return outcomes

    async def merge_customers(self, merge: CustomerMerge) -> Outcome:
        """Send a `customer.merged` event (MergesCustomers)."""
        return await self._send_customer_event(merge.action, f"merge_{merge.id}", merge)

    async def unmerge_customers(self, merge: CustomerMerge) -> Outcome:
        """Send a `customer.unmerged` event (MergesCustomers)."""
        return await self._send_customer_event(merge.action, f"merge_{merge.id}", merge)

    async def erase_customer(self, erasure: CustomerErasure) -> Outcome:
        """Send a `customer.erased` event (ErasesCustomers); a 2xx answer is the receipt."""
        return await self._send_customer_event("erase", f"erasure_{erasure.id}", erasure)

    async def _send_customer_event(
        self, action: str, event_id: str, event: CustomerMerge | CustomerErasure
    ) -> Outcome:
        data = {"action": action, **dataclasses.asdict(event)}
        subject = event.customer_id if isinstance(event, CustomerErasure) else event.survivor_id
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        body = orjson.dumps(customer_event(action, event_id, subject, data, now))
        outcome, _ = await self._post(body, event_id, EVENT_CONTENT_TYPE)
        return outcome

    async def _send(self, group: Sequence[Delivery]) -> tuple[Outcome, bool]:
        """POST one request; return its outcome and whether the whole receiver is failing."""
        events = [cloud_event(d) for d in group]
        if self.settings.batch_size == 1:
            [event] = events
            body, msg_id, content_type = orjson.dumps(event), event["id"], EVENT_CONTENT_TYPE
        else:
            ids = [event["id"] for event in events]
            body, msg_id, content_type = orjson.dumps(events), batch_id(ids), BATCH_CONTENT_TYPE
            outcome, receiver_down = await self._post(body, msg_id, content_type)
            # One answer for many events cannot say whose records it names.
            return (
                (Delivered(), False) if isinstance(outcome, Delivered) else (outcome, receiver_down)
            )
        return await self._post(body, msg_id, content_type)

    async def _post(self, body: bytes, msg_id: str, content_type: str) -> tuple[Outcome, bool]:
        """POST a signed body; return its outcome and whether the whole receiver is failing."""
        headers = standard_webhooks.signature_headers(self._keys, msg_id, int(time.time()), body)
        timeout_s = self.settings.timeout.total_seconds()
        receiver_down = False
        try:
            async with self.ctx.http.post(
                str(self.settings.url),
                data=body,
                headers={**headers, "Content-Type": content_type},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                receiver_down = response.status in RECEIVER_DOWN
                answer = await raise_for_delivery_status(response, secrets=self._secrets)
                refs = _record_refs(response.content_type, answer)
        except TransientDeliveryError as exc:
            return Retry(str(exc), after_s=exc.retry_after), receiver_down
        except PermanentDeliveryError as exc:
            return Rejected(str(exc)), False
        except TimeoutError:  # before ClientError: aiohttp's timeouts are both
            return Retry(f"timeout: no answer within {timeout_s:g}s"), True
        except aiohttp.ClientError as exc:
            return Retry(f"{type(exc).__name__}: {exc}"), True
        return Delivered(refs), False


def _record_refs(content_type: str, body: bytes) -> tuple[str, ...]:
    """Return the `record_refs` a receiver answered with (`{"record_refs": ["contact 7"]}`)."""
    if content_type != "application/json":
        return ()
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    refs = answer.get("record_refs") if isinstance(answer, dict) else None
    if not isinstance(refs, list):
        return ()
    return tuple(ref for ref in refs if isinstance(ref, str) and ref)[:_MAX_REFS]


@hookimpl
def gateway_register_backends(registry: BackendRegistry) -> None:
    """Register the `webhook` backend."""
    registry.add(WebhookBackend)
