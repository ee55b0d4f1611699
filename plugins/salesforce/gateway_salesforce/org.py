"""What the backend needs of the org, checked at start-up through the describe API.

`requirements(settings)` lists every field the backend reads or writes; `check(...)` compares
them with `GET /sobjects/{SObject}/describe` and says, for each one that is wrong, exactly what
to create or change: the object, the field's API name, its type, External ID and Unique, a
picklist value. Describe lists only the fields the run-as user can see, so a missing field may
also be a field-level-security gap; the message says both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway_salesforce.mapping import CALL_TYPES, CASE_ORIGINS, CONTACT_FIELDS, TASK_SUBTYPES
from gateway_salesforce.settings import SalesforceSettings

__all__ = ["Requirement", "check", "requirements"]

_KEY = "Text(255), External ID, Unique"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One field the backend uses: on which object, of which type, with which values."""

    sobject: str
    name: str
    kind: str
    """The type to create it as (custom fields) or the standard field's type, for messages."""
    external_id: bool = False
    updates: bool = True
    """Whether the backend also updates it (else it must only be createable)."""
    values: tuple[str, ...] = ()
    """Picklist values the backend writes; each must be active."""


def requirements(settings: SalesforceSettings) -> list[Requirement]:
    """Return every field the backend uses with these settings, custom ones first."""
    needs = [
        Requirement("Contact", settings.contact_id_field, _KEY, external_id=True),
        Requirement("Task", settings.task_id_field, _KEY, external_id=True),
    ]
    if settings.delivery_status_field:
        needs.append(Requirement("Task", settings.delivery_status_field, "Text(255)"))
    if settings.cases:
        needs.append(Requirement("Case", settings.case_id_field, _KEY, external_id=True))
    needs += [Requirement("Contact", name, "standard") for name in CONTACT_FIELDS]
    needs += [
        Requirement("Task", "Subject", "standard"),
        Requirement("Task", "Description", "standard"),
        Requirement("Task", "ActivityDate", "standard"),
        Requirement("Task", "Status", "picklist", values=(settings.task_status,)),
        Requirement(
            "Task", "TaskSubtype", "picklist", updates=False, values=tuple(TASK_SUBTYPES.values())
        ),
        Requirement("Task", "CallType", "picklist", values=tuple(CALL_TYPES.values())),
        Requirement("Task", "CallDurationInSeconds", "standard"),
        Requirement("Task", "CallObject", "standard"),
        Requirement("Task", "WhoId", "standard"),
    ]
    if settings.cases:
        needs += [
            Requirement("Task", "WhatId", "standard"),
            Requirement("Case", "ContactId", "standard"),
            Requirement("Case", "Subject", "standard"),
            Requirement("Case", "Description", "standard"),
            Requirement("Case", "Origin", "picklist", values=tuple(CASE_ORIGINS.values())),
        ]
        if settings.case_status:
            needs.append(Requirement("Case", "Status", "picklist", values=(settings.case_status,)))
    return needs


def check(needs: Sequence[Requirement], described: Mapping[str, Any]) -> list[str]:
    """Return what is wrong in the org for `needs`, given `{SObject: describe answer}`."""
    problems = []
    for need in needs:
        fields = {
            str(f.get("name")): f
            for f in (described.get(need.sobject) or {}).get("fields") or ()
            if isinstance(f, Mapping)
        }
        where = f"{need.sobject}.{need.name}"
        field = fields.get(need.name)
        if field is None:
            custom = need.name.endswith("__c")
            problems.append(
                f"{where} is missing: "
                + (f"create it on {need.sobject} as {need.kind}" if custom else "it is standard")
                + " and give the run-as user read and edit access to it (field-level security)"
            )
            continue
        if need.external_id and not field.get("externalId"):
            problems.append(f"{where} is not an External ID: edit it and tick External ID")
        if need.external_id and not field.get("unique"):
            problems.append(f"{where} is not Unique: edit it and tick Unique")
        if not field.get("createable") or (need.updates and not field.get("updateable")):
            problems.append(
                f"{where} is read-only for the run-as user: give it edit access "
                "(field-level security)"
            )
        active = {
            str(v.get("value"))
            for v in field.get("picklistValues") or ()
            if isinstance(v, Mapping) and v.get("active")
        }
        problems += [
            f"{where} has no active picklist value {value!r}: add it (Setup, Object Manager, "
            f"{need.sobject}, {need.name})"
            for value in need.values
            if value not in active
        ]
    return problems
