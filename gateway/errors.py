"""Exceptions that tell the host what to do.

Plugins raise these; the core turns each into the right HTTP answer or delivery decision::

    GatewayError
    ├── ConfigError               the configuration is invalid: fix it, then start again
    ├── PluginLoadError           an installed plugin cannot be imported or registered
    ├── SignatureError            webhook not authentic (HTTP 401, nothing stored)
    ├── PayloadError              webhook authentic but unusable (HTTP 400 or 422)
    ├── StoreUnavailableError     the store cannot commit right now (HTTP 503, provider retries)
    ├── NotReadyError             a backend cannot start yet: the host retries later
    ├── AuthenticationError       a backend's credentials were refused: deliveries wait, re-checked
    └── DeliveryError
        ├── TransientDeliveryError    try this delivery again (optionally after `retry_after`)
        └── PermanentDeliveryError    never retry: dead-letter it with this message
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "DeliveryError",
    "GatewayError",
    "NotReadyError",
    "PayloadError",
    "PermanentDeliveryError",
    "PluginLoadError",
    "SignatureError",
    "StoreUnavailableError",
    "TransientDeliveryError",
]


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """The configuration is invalid; `problems` holds one `FILE:LINE:COL: path: message` each."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class PluginLoadError(GatewayError):
    """An installed plugin failed to import or to register its classes."""


class SignatureError(GatewayError):
    """The webhook's signature, token or timestamp does not verify.

    `status` is 401, or 406 for a refusal that is final for a provider which retries every
    other status (Mailgun stops on 406: a replayed or stale signature never verifies later).
    """

    def __init__(self, message: str, *, status: int = 401) -> None:
        if status not in (401, 406):
            raise ValueError("SignatureError status must be 401 or 406")
        self.status = status
        super().__init__(message)


class PayloadError(GatewayError):
    """The webhook verified but its payload cannot be turned into interactions.

    `status` is 400 for a body that cannot be decoded at all and 422 for a well-formed body whose
    content is invalid; `field` names the offending field when there is one, and `reason` is the
    message without it.
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 400) -> None:
        if status not in (400, 422):
            raise ValueError("PayloadError status must be 400 or 422")
        self.field = field
        self.reason = message
        self.status = status
        super().__init__(f"{field}: {message}" if field else message)


class StoreUnavailableError(GatewayError):
    """The store could not durably commit; nothing was acknowledged."""


class NotReadyError(GatewayError):
    """A backend cannot start yet (network, remote warming up); the host retries `start`."""


class AuthenticationError(GatewayError):
    """A backend's credentials were refused (401/403): not the delivery's fault.

    The host keeps the deliveries pending (no attempt counted, nothing dead-lettered), reports
    the backend `auth_failed` and checks the credentials again with backoff until they work.
    """


class DeliveryError(GatewayError):
    """Base class of the errors a backend raises from `deliver`."""


class TransientDeliveryError(DeliveryError):
    """The delivery may succeed later; `retry_after` (seconds) is the remote's hint, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PermanentDeliveryError(DeliveryError):
    """The delivery will never succeed as it is; it goes to the dead-letter queue."""
