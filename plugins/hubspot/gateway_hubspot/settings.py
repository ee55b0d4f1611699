"""Settings of the `hubspot` backend."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from gateway.plugin import BackendSettings

__all__ = ["API_ROOT", "HubSpotSettings"]

API_ROOT = "https://api.hubapi.com"
"""HubSpot's API root, used unless `base_url` overrides it."""


class HubSpotSettings(BackendSettings):
    """Settings of the `hubspot` backend (a HubSpot private app's access token)."""

    token: SecretStr
    """Access token of a HubSpot private app (`pat-...`) with the scopes listed in
    docs/backends/hubspot.md; sent as `Authorization: Bearer`, never logged."""
    batch_size: Annotated[int, Field(ge=1, le=100)] = 20
    """Deliveries written in one round of batch requests (HubSpot's batch endpoints take up to
    100 inputs)."""
    requests_per_10s: Annotated[int, Field(ge=1, le=1000)] = 80
    """Requests this backend sends in any 10 seconds. HubSpot allows a private app 100 (Free and
    Starter), 190 (Professional and Enterprise) or 250 (API limit increase); the default leaves
    room for the portal's other integrations. Lowered at run time when HubSpot's
    `X-HubSpot-RateLimit-Max` header says the account allows less."""
    tickets: bool = False
    """Also keep one ticket per gateway conversation, with the contact and every engagement of
    the conversation associated to it."""
    ticket_pipeline: Annotated[str, Field(min_length=1, max_length=64)] = "0"
    """Pipeline of the tickets created (`hs_pipeline`); `0` is HubSpot's default support
    pipeline."""
    ticket_stage: Annotated[str, Field(min_length=1, max_length=64)] = "1"
    """Stage of a new ticket (`hs_pipeline_stage`); `1` is "New" in the default pipeline. Later
    interactions never move a ticket: its stage is the agents' to change."""
    owner_id: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")] | None = None
    """HubSpot owner (user) id set as `hubspot_owner_id` on what the backend creates; none by
    default."""

    @field_validator("token")
    @classmethod
    def _require_a_token(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("a private app access token is required")
        return token
