"""Settings of the `zendesk` backend."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from gateway.plugin import BackendSettings

__all__ = ["Tag", "ZendeskSettings"]

Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-:/.]{1,80}$")]
"""A Zendesk tag: no spaces (Zendesk splits a tag at a space)."""


class ZendeskSettings(BackendSettings):
    """Settings of the `zendesk` backend (an agent's e-mail address and an API token)."""

    subdomain: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    """The account's subdomain: `acme` for https://acme.zendesk.com."""
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
    """E-mail address of the agent or admin the API token acts as (the author of the tickets
    and of the comments on outbound interactions)."""
    api_token: SecretStr
    """A Zendesk API token (Admin Center > Apps and integrations > APIs > API tokens); sent as
    Basic auth `{email}/token:{api_token}`, never logged."""
    public_comments: bool = False
    """Post interactions as public comments instead of internal notes. Off by default: a public
    comment makes Zendesk notify the requester (an e-mail with the text they just sent, or a
    copy of what an agent already sent them on another channel); internal notes tell the agents
    the whole story without writing to the customer. Receipts are always internal notes."""
    tags: list[Tag] = Field(default_factory=lambda: ["channel_gateway"], max_length=20)
    """Tags on every ticket the backend opens; each comment also adds `gateway_<channel kind>`
    (e.g. `gateway_sms`), so views and triggers can tell the channels apart."""
    group_id: Annotated[int, Field(ge=1)] | None = None
    """Zendesk group new tickets are assigned to; none (Zendesk's routing decides) by default."""
    brand_id: Annotated[int, Field(ge=1)] | None = None
    """Brand of new tickets, for accounts with several brands; the default brand otherwise."""

    @field_validator("api_token")
    @classmethod
    def _require_a_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("an API token is required")
        return token

    def api_root(self) -> str:
        """Return `base_url` if set, else https://{subdomain}.zendesk.com (no trailing slash)."""
        return str(self.base_url or f"https://{self.subdomain}.zendesk.com").rstrip("/")
