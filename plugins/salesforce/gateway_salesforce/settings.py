"""Settings of the `salesforce` backend."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, HttpUrl, SecretStr, field_validator

from gateway.plugin import BackendSettings

__all__ = ["API_VERSION", "SalesforceSettings"]

API_VERSION = "v66.0"
"""The REST API version the backend is written and tested against (Spring '26, GA)."""
_CUSTOM_FIELD = r"^[A-Za-z][A-Za-z0-9_]{0,36}__c$"

FieldName = Annotated[str, Field(pattern=_CUSTOM_FIELD)]
"""The API name of a custom field, e.g. `Gateway_Customer_Id__c`."""


class SalesforceSettings(BackendSettings):
    """Settings of the `salesforce` backend (an External Client App's client credentials)."""

    instance_url: HttpUrl
    """The org's My Domain URL, e.g. `https://acme.my.salesforce.com`: the token is requested
    there (`/services/oauth2/token`) and every API call goes there (`base_url` overrides both,
    for tests)."""
    client_id: Annotated[str, Field(min_length=1, max_length=256)]
    """Consumer key of the External Client App that has the client-credentials flow enabled."""
    client_secret: SecretStr
    """Consumer secret of that app; sent only to the token endpoint, never logged."""
    api_version: Annotated[str, Field(pattern=r"^v[0-9]{2,3}\.0$")] = API_VERSION
    """REST API version the backend calls (`/services/data/{api_version}/...`); pinned so a
    Salesforce release never changes what the backend sends."""
    batch_size: Annotated[int, Field(ge=1, le=200)] = 50
    """Deliveries written in one round of sObject Collections requests (Salesforce takes up to
    200 records per request)."""
    contact_id_field: FieldName = "Gateway_Customer_Id__c"
    """Contact field holding the gateway customer id: Text(255), External ID, Unique."""
    task_id_field: FieldName = "Gateway_Interaction_Id__c"
    """Task field holding the interaction's key (`{channel}:{external id}`, or
    `{channel}:call:{call id}` for a call): Text(255), External ID, Unique."""
    case_id_field: FieldName = "Gateway_Conversation_Id__c"
    """Case field holding the gateway conversation id: Text(255), External ID, Unique. Only
    used with `cases: true`."""
    delivery_status_field: FieldName | None = "Gateway_Delivery_Status__c"
    """Task field (Text(255)) that delivery receipts (sent, delivered, read, failed) update on
    their message's Task; `null` acknowledges receipts without writing them."""
    cases: bool = False
    """Also keep one Case per gateway conversation, with every Task of the conversation
    related to it (`WhatId`)."""
    task_status: Annotated[str, Field(min_length=1, max_length=40)] = "Completed"
    """Task `Status` of logged activities: a value of the org's Task Status picklist that
    counts as closed."""
    case_status: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    """`Status` of a new Case; none: the org's picklist default (`New` out of the box). Later
    interactions never change a Case's status."""
    owner_id: Annotated[str, Field(pattern=r"^005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")] | None = (
        None
    )
    """User id (`005...`) set as `OwnerId` of what the backend creates; none: the run-as user."""

    @field_validator("instance_url")
    @classmethod
    def _require_https(cls, url: HttpUrl) -> HttpUrl:
        if url.scheme != "https":
            raise ValueError("the My Domain URL must be https:// (the consumer secret goes there)")
        return url

    @field_validator("client_secret")
    @classmethod
    def _require_a_secret(cls, secret: SecretStr) -> SecretStr:
        if not secret.get_secret_value().strip():
            raise ValueError("the External Client App's consumer secret is required")
        return secret

    def api_root(self) -> str:
        """Return where the token and the API are: `base_url` if set, else `instance_url`."""
        return str(self.base_url or self.instance_url).rstrip("/")
