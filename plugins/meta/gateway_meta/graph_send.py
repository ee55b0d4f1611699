"""What the Meta senders share: one Graph API send request and the Graph error document.

Every Meta send is `POST {root}/{api_version}/{account id}/messages` with a JSON body and
`Authorization: Bearer <token>`, answered 200 with the message's id or with
`{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`. The Graph API has no
idempotency key, so a request that may have been written without an answer (a timeout, a
dropped connection) has an unknown outcome: dead-lettered with `outcome_unknown` unless
`send.on_unknown_outcome: resend`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import Field, SecretStr, model_validator

from gateway.errors import AuthenticationError
from gateway.plugin import (
    Backend,
    Delivered,
    Delivery,
    Outcome,
    ProviderAnswer,
    Rejected,
    Retry,
    SenderSettings,
    send_to_provider,
)
from gateway.schema import Interaction

__all__ = [
    "API_VERSION",
    "ECHO_PREFIX",
    "GRAPH_ROOT",
    "GraphErrors",
    "GraphSendSettings",
    "GraphSender",
    "own_marker",
]

GRAPH_ROOT = "https://graph.facebook.com"
API_VERSION = "v25.0"
"""The Graph API version the senders pin by default (each version lives at least two years)."""
ECHO_PREFIX = "channel-gateway:"
"""How the string Meta hands back with a message the gateway sent starts (Messenger's echo
`metadata`, WhatsApp's status `biz_opaque_callback_data`); the rest is the outbound
interaction's `external_id`, its Idempotency-Key."""


def own_marker(interaction: Interaction, limit: int) -> str:
    """Return `ECHO_PREFIX` + the interaction's `external_id`, cut to `limit` characters."""
    return (ECHO_PREFIX + interaction.external_id)[:limit]


class GraphSendSettings(SenderSettings):
    """The `send:` keys every Meta channel takes, and its token (named by `token_field`)."""

    token_field: ClassVar[str]
    """The settings field holding the Bearer token, e.g. `access_token`."""
    token_example: ClassVar[str]
    """The environment variable the docs suggest for it, shown when it is blank."""
    api_version: str = Field(default=API_VERSION, pattern=r"^v[0-9]{1,3}\.[0-9]$")
    """The Graph API version called, e.g. `v25.0`."""

    @property
    def token(self) -> str:
        """Return the Bearer token."""
        secret: SecretStr = getattr(self, self.token_field)
        return secret.get_secret_value()

    @model_validator(mode="after")
    def _no_blank_token(self) -> GraphSendSettings:
        if not self.token.strip():
            raise ValueError(
                f"{self.token_field} must not be blank, e.g. ${{{self.token_example}}}"
            )
        return self


@dataclass(frozen=True, slots=True)
class GraphErrors:
    """How one Meta product's Graph error codes map onto outcomes."""

    product: str
    """Named in failure reasons: `WhatsApp`, `Messenger`, `Instagram`."""
    rate_limited: frozenset[int]
    """Codes that mean "later": `Retry` (as do 429 and 5xx)."""
    auth: frozenset[int]
    """Codes of a refused token or a missing permission: `AuthenticationError` (as do 401, 403)."""
    refused: Mapping[int, str] = field(default_factory=dict)
    """Codes that refuse the message for good, and what they mean."""
    refused_subcodes: Mapping[int, str] = field(default_factory=dict)
    """Subcodes that refuse it for good whatever their code (Messenger's window is code 10, the
    permission code, with subcode 2018278): checked first."""

    def classify(self, status: int, answer: Any, retry_after: float | None) -> Retry | Rejected:
        """Return the outcome of a refused send: `Retry` (rate limit, 5xx) or `Rejected`.

        Raises `AuthenticationError` for a 401, a 403 or a refused token (`auth`).
        """
        error = answer.get("error") if isinstance(answer, dict) else None
        error = error if isinstance(error, dict) else {}
        code, subcode, text = error.get("code"), error.get("error_subcode"), error.get("message")
        detail = f"Graph {status}" + (f" error {code}" if code is not None else "")
        if subcode:
            detail += f"/{subcode}"
        if isinstance(text, str):
            detail += f": {text}"
        if trace := error.get("fbtrace_id"):
            detail += f" (fbtrace_id {trace})"
        if isinstance(subcode, int) and subcode in self.refused_subcodes:
            return Rejected(f"{self.refused_subcodes[subcode]} ({detail})"[:500])
        if status in (401, 403) or code in self.auth:
            raise AuthenticationError(f"{self.product} refused the access token ({detail[:300]})")
        if status == 429 or code in self.rate_limited or status >= 500:
            return Retry(detail[:500], after_s=retry_after)
        if isinstance(code, int) and code in self.refused:
            return Rejected(f"{self.refused[code]} ({detail})"[:500])
        return Rejected(detail[:500])


GraphSettingsT = TypeVar("GraphSettingsT", bound=GraphSendSettings)


class GraphSender(Backend[GraphSettingsT]):
    """Sends each outbound interaction as one or more Graph API `/messages` requests.

    The first request's message id is the provider message id. Later ones (Messenger attachments
    after the text) are sent only once the first was accepted and are never retried: a retry
    would send the first again. A later part that fails is logged, and the message stays sent.
    """

    errors: ClassVar[GraphErrors]
    root: ClassVar[str] = GRAPH_ROOT
    """The API root when `send.base_url` is unset."""

    @property
    @abstractmethod
    def account_id(self) -> str:
        """Return the id in the path: the phone number, Page or Instagram account."""

    @abstractmethod
    def bodies(self, interaction: Interaction) -> list[dict[str, Any]] | Rejected:
        """Return the request bodies that send `interaction` (at least one), or why it cannot
        be sent."""

    @abstractmethod
    def message_id(self, answer: Any) -> str | None:
        """Return the message id in a 200 answer, if it has one."""

    @property
    def url(self) -> str:
        """Return the `/messages` URL of the account."""
        root = str(self.settings.base_url or self.root).rstrip("/")
        return f"{root}/{self.settings.api_version}/{self.account_id}/messages"

    async def deliver(self, batch: Sequence[Delivery]) -> Sequence[Outcome]:
        """Send the message of each delivery (one per call: `max_batch` is 1)."""
        return [await self._send(delivery) for delivery in batch]

    async def _send(self, delivery: Delivery) -> Outcome:
        bodies = self.bodies(delivery.interaction)
        if isinstance(bodies, Rejected):
            return bodies
        first, *rest = bodies
        sent = await self._post(first)
        if not isinstance(sent, str):
            return sent
        for index, body in enumerate(rest, start=2):
            try:
                failed = await self._post(body)
            except AuthenticationError as exc:  # the first went: the message is sent
                failed = Rejected(str(exc))
            if not isinstance(failed, str):
                self.ctx.logger.warning(
                    "%s: part %d of %d of message %s not sent, not retried: %s",
                    self.ctx.name,
                    index,
                    len(bodies),
                    sent,
                    failed.reason,
                )
        return Delivered(provider_message_id=sent)

    async def _post(self, body: dict[str, Any]) -> str | Retry | Rejected:
        """Send one request; return the message id, or the outcome when there is none."""
        product = self.errors.product
        answer = await send_to_provider(
            self.ctx.http,
            self.url,
            self.settings,
            provider=product,
            headers={"Authorization": f"Bearer {self.settings.token}"},
            json=body,
        )
        if not isinstance(answer, ProviderAnswer):
            return answer
        if answer.status != 200:
            return self.errors.classify(answer.status, answer.body, answer.retry_after)
        sent = self.message_id(answer.body)
        if sent is None:
            return self.settings.unknown_outcome(
                f"the Graph API answered {answer.status} without a message id; {product} may"
                " have the message"
            )
        return sent
