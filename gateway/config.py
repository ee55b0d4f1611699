"""The gateway's configuration: models for every section of `gateway.yaml`.

Field docstrings become the configuration reference (`docs/configuration.md`) and the
descriptions of `gateway schema config`.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    field_validator,
    model_validator,
)

from gateway.backend import BackendSettings
from gateway.channel import ChannelSettings
from gateway.enricher import EnricherSettings
from gateway.identity import IdentityRules
from gateway.schema import ChannelKind, Direction, InteractionType
from gateway.settings_types import Cidr, Duration, OneOrMany

__all__ = [
    "AdminSettings",
    "GatewayConfig",
    "IdentitySettings",
    "LoggingSettings",
    "Route",
    "RouteMatch",
    "ServerSettings",
    "StorageSettings",
    "is_loopback",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""Channel ids and backend names: they appear in URLs, metrics labels and logs."""
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class Section(BaseModel):
    """A section of the configuration: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


def _checked_postgres_url(url: str) -> str:
    """Return a PostgreSQL URL that libpq can parse; errors never repeat it (a password)."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ValueError("the postgresql URL does not parse (check the host and port)") from None
    if not parts.path.strip("/") and "dbname=" not in parts.query:
        raise ValueError("the postgresql URL names no database: postgresql://host:5432/DATABASE")
    return url


def is_loopback(host: str) -> bool:
    """Return True if `host` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServerSettings(Section):
    """The public HTTP server that providers post webhooks to."""

    host: str = "0.0.0.0"
    """Address to listen on."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    """Port to listen on (0: any free port)."""
    max_body_bytes: Annotated[int, Field(ge=1)] = 1_048_576
    """Largest webhook body accepted; larger ones are answered 413 before being read."""
    trust_proxy: bool = False
    """Rebuild the URL providers signed from X-Forwarded-Proto and X-Forwarded-Host, and the
    client address from X-Forwarded-For, when the request comes from `trusted_proxies`."""
    trusted_proxies: list[Cidr] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    """Addresses or networks (CIDR) of the reverse proxies whose X-Forwarded-* headers
    `trust_proxy` honours; from any other peer they are ignored."""
    shutdown_timeout: Duration = timedelta(seconds=10)
    """On SIGTERM, how long in-flight webhooks may take to finish; bodies still arriving are
    answered 503 after one second."""

    @cached_property
    def _proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(cidr) for cidr in self.trusted_proxies)

    def is_trusted_proxy(self, peer: str | None) -> bool:
        """Return True if `trust_proxy` is on and `peer` is one of `trusted_proxies`."""
        if not self.trust_proxy or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self._proxy_networks)


class AdminSettings(Section):
    """The admin API, on its own port."""

    host: str = "127.0.0.1"
    """Address to listen on; any non-loopback address requires `token`."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8081
    """Port to listen on (0: any free port)."""
    token: SecretStr | None = None
    """Bearer token every admin request must present."""

    @model_validator(mode="after")
    def _token_off_loopback(self) -> AdminSettings:
        if not is_loopback(self.host) and not (self.token and self.token.get_secret_value()):
            raise ValueError(
                f"a token is required: host {self.host} is reachable from other machines; "
                "set token (e.g. token: ${GATEWAY_ADMIN_TOKEN}) or listen on 127.0.0.1"
            )
        return self


class StorageSettings(Section):
    """Where interactions and delivery jobs are stored."""

    url: str = "sqlite:///gateway.db"
    """`sqlite:///relative.db` or `sqlite:////absolute/path.db` (one gateway), or
    `postgresql://user:password@host:5432/database` (one database shared by many instances;
    libpq's URL, query parameters such as `sslmode=require` included)."""
    synchronous: Literal["full", "normal", "off"] = "full"
    """SQLite durability: `full` fsyncs every group commit (nothing acknowledged is lost).
    PostgreSQL's is the server's own (`synchronous_commit`, on by default)."""
    retention: Duration = timedelta(days=30)
    """Interactions delivered everywhere are deleted this long after they arrived."""

    @field_validator("url")
    @classmethod
    def _supported_url(cls, url: str) -> str:
        if url.startswith("sqlite:///"):
            return url
        if url.startswith(("postgresql://", "postgres://")):
            return _checked_postgres_url(url)
        raise ValueError(
            "expected sqlite:///relative.db, sqlite:////absolute/path.db"
            " or postgresql://user:password@host:5432/database"
        )


class IdentitySettings(Section):
    """Cross-channel identity resolution and conversation threading."""

    default_region: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = "US"
    """Region (ISO 3166 alpha-2) for phone numbers written without a country code."""
    conversation_window: Duration = timedelta(hours=24)
    """A conversation stays open while its last activity is this recent."""
    rules: IdentityRules = Field(default_factory=IdentityRules)
    """Which identities link people, how many a customer keeps, which link wins."""


class LoggingSettings(Section):
    """What `gateway serve` writes to stderr, and how."""

    format: Literal["text", "json"] = "text"
    """`text`: one human-readable line per record; `json`: one JSON object per line (for log
    shippers) with `time`, `level`, `logger`, `message`, and `channel`, `interaction_id`,
    `delivery_id`, `backend` and `exception` where the record has them."""
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    """The least severe level written; `$GATEWAY_LOG_LEVEL`, when set, overrides it."""


class RouteMatch(Section):
    """Which interactions a route takes; an omitted criterion matches everything."""

    channel_id: OneOrMany[Name] | None = None
    """Configured channel ids."""
    channel_kind: OneOrMany[ChannelKind] | None = None
    """Channel kinds, e.g. `[sms, whatsapp]`."""
    type: OneOrMany[InteractionType] | None = None
    """Interaction types: `message`, `call`, `status`."""
    direction: OneOrMany[Direction] | None = None
    """`inbound` and/or `outbound`."""


class Route(Section):
    """A routing rule: interactions it matches go to the backends in `to`."""

    match: RouteMatch = Field(default_factory=RouteMatch)
    """Criteria, all of which must hold."""
    to: OneOrMany[Name]
    """Backend names; an empty list stores the interaction and forwards it nowhere."""


class GatewayConfig(Section):
    """The whole configuration file."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    """The public webhook server."""
    admin: AdminSettings = Field(default_factory=AdminSettings)
    """The admin API."""
    storage: StorageSettings = Field(default_factory=StorageSettings)
    """The store of interactions and delivery jobs."""
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    """Identity resolution and conversation threading."""
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    """The log's format and level."""
    channels: dict[Name, SerializeAsAny[ChannelSettings]] = Field(default_factory=dict)
    """Webhook sources by id; each is served at `/webhooks/{id}`."""
    backends: dict[Name, SerializeAsAny[BackendSettings]] = Field(default_factory=dict)
    """Delivery targets by name."""
    enrichers: dict[Name, SerializeAsAny[EnricherSettings]] = Field(default_factory=dict)
    """Per-interaction transforms, run in the order written."""
    routes: list[Route] = Field(default_factory=list)
    """First matching rule wins; no routes at all sends everything to every backend."""
