"""The `whatsapp-cloud` channel: WhatsApp Business Platform Cloud API webhooks.

Each `entry[].changes[]` with `field: "messages"` carries customers' `messages[]` (each becomes an
inbound message) and `statuses[]` of the business's own messages (each becomes a status). Other
fields (template reviews, account updates, ...) are not interactions and are skipped.

WhatsApp echoes nothing the business sends, so the first status of a message sent elsewhere (the
WhatsApp Business app, another tool on the number) is all the gateway hears of that answer: its
`sent` status, unless `biz_opaque_callback_data` says the gateway sent it (`ECHO_PREFIX`), also
becomes an outbound message without content (`sent_elsewhere`), an answer in the customer's
conversation. A marketing or authentication template sent elsewhere is `automated`: no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from gateway.plugin import WebhookRequest, normalize_phone
from gateway.schema import Interaction
from gateway_meta.channel import MetaChannel
from gateway_meta.graph_send import ECHO_PREFIX
from gateway_meta.payload import Node, put
from gateway_meta.sender import WhatsAppSender, WhatsAppSendSettings
from gateway_meta.settings import WhatsAppSettings
from gateway_meta.whatsapp_content import message_content

__all__ = ["WhatsAppCloudChannel"]

STATES: Final = frozenset({"sent", "delivered", "read", "failed"})
NOT_ANSWERS: Final = frozenset({"marketing", "marketing_lite", "authentication"})
"""Pricing categories of templates sent elsewhere that answer nobody: campaigns and codes."""
"""Statuses that map onto the schema's states; others (`played` for voice, ...) are skipped."""
SKIPPED_TYPES: Final = frozenset({"system"})
"""Message types that are not something the customer said (a changed number or BSUID)."""
BSUID: Final = "whatsapp_bsuid"
"""Identity kind of a business-scoped user id (`US.13491208655302741918`)."""


@dataclass(frozen=True, slots=True)
class _Business:
    """Our side of a change: the business number, and where the webhook came from."""

    party: dict[str, Any]
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Change:
    """One `changes[].value`: its events share the business and the contacts."""

    value: Node
    business: _Business
    contacts: list[Node]

    def raw(self, key: str, event: Node) -> dict[str, Any]:
        """Return `value` reduced to this one event (what `include_raw` keeps)."""
        raw: dict[str, Any] = {key: [event.value]}
        if "metadata" in self.value.value:
            raw["metadata"] = self.value.value["metadata"]
        if self.contacts:
            raw["contacts"] = [contact.value for contact in self.contacts]
        return raw


@dataclass(frozen=True, slots=True)
class _Customer:
    party: dict[str, Any]
    metadata: dict[str, str]


class WhatsAppCloudChannel(MetaChannel):
    """Messages from WhatsApp users and the statuses of the business's messages to them.

    With `send:`, it also sends replies (`WhatsAppSender`): free-form text within 24 hours of the
    customer's last message, templates at any time; its status webhooks move them forward.
    """

    type_name = "whatsapp-cloud"
    kind = "whatsapp"
    object_name = "whatsapp_business_account"
    settings_model = WhatsAppSettings
    sender = WhatsAppSender
    reply_kinds = frozenset({"phone"})
    messaging_window = timedelta(hours=24)
    sends_templates = True

    def send_settings(self) -> WhatsAppSendSettings | None:
        """Return the `send:` block, or None if this channel does not send."""
        settings = self.settings
        return settings.send if isinstance(settings, WhatsAppSettings) else None

    def parse_entry(self, req: WebhookRequest, entry: Node) -> list[Interaction]:
        """Return the messages and statuses of every `messages` change of `entry`."""
        found: list[Interaction | None] = []
        for change in entry.objects("changes"):
            if change.text("field") != "messages":
                continue
            value = change.required_object("value")
            current = _Change(value, self._business(entry, value), value.objects("contacts"))
            found.extend(self._message(req, current, item) for item in value.objects("messages"))
            for item in value.objects("statuses"):
                found.extend(self._status(req, current, item))
        return [interaction for interaction in found if interaction is not None]

    def _message(self, req: WebhookRequest, change: _Change, message: Node) -> Interaction | None:
        kind = message.required_text("type")
        if kind in SKIPPED_TYPES:
            return None
        wamid = message.required_id("id")
        occurred_at = message.unix_seconds("timestamp")
        customer = self._customer(message, "from", "from_user_id", change.contacts)
        if not customer.party["identities"]:
            raise message.error("names no sender: neither `from` nor `from_user_id`", "from")
        content = message_content(message, kind)
        metadata = {**change.business.metadata, **customer.metadata, **content.metadata}
        if group := message.id("group_id"):
            metadata["group_id"] = group
        return self.build(
            req,
            message,
            raw=change.raw("messages", message),
            type="message",
            direction="inbound",
            external_id=wamid,
            occurred_at=occurred_at,
            sender=customer.party,
            recipient=change.business.party,
            content=content.as_content(),
            metadata=metadata,
        )

    def _status(self, req: WebhookRequest, change: _Change, status: Node) -> list[Interaction]:
        """Return the status, and for the `sent` of a message sent elsewhere that answer first."""
        state = status.required_text("status")
        if state not in STATES:
            return []
        wamid = status.required_id("id")
        occurred_at = status.unix_seconds("timestamp")
        group = status.text("recipient_type") == "group"
        phone_key = None if group else "recipient_id"
        customer = self._customer(status, phone_key, "recipient_user_id", change.contacts)
        errors = status.objects("errors")
        metadata = {**change.business.metadata, **customer.metadata, **_status_metadata(status)}
        if group and (group_id := status.id("recipient_id")):
            metadata["group_id"] = group_id
        if errors:
            put(metadata, "error_code", errors[0].id("code"))
            put(metadata, "error_href", errors[0].text("href"))
        common: dict[str, Any] = {
            "raw": change.raw("statuses", status),
            "direction": "outbound",
            "occurred_at": occurred_at,
            "sender": change.business.party,
            "recipient": customer.party,
        }
        found = [
            self.build(
                req,
                status,
                type="status",
                external_id=f"{wamid}/{state}",
                status={"of_external_id": wamid, "state": state, "error": describe_errors(errors)},
                metadata=metadata,
                **common,
            )
        ]
        own = (status.text("biz_opaque_callback_data") or "").startswith(ECHO_PREFIX)
        if state == "sent" and not own and not group and customer.party["identities"]:
            metadata = {**metadata, "sent_elsewhere": "true"}
            if (category := metadata.get("pricing_category")) in NOT_ANSWERS:
                metadata["automated"] = f"a {category} template sent elsewhere"
            # Before its receipt: the core then knows the receipt's message (no second answer).
            found.insert(
                0,
                self.build(
                    req, status, type="message", external_id=wamid, metadata=metadata, **common
                ),
            )
        return found

    def _business(self, entry: Node, value: Node) -> _Business:
        """Return the business number of a change (`metadata.display_phone_number`)."""
        identities = []
        metadata: dict[str, str] = {}
        put(metadata, "waba_id", entry.id("id"))
        if numbers := value.object("metadata"):
            put(metadata, "phone_number_id", numbers.id("phone_number_id"))
            display = numbers.id("display_phone_number") or ""
            # Our own number: formatted for display, possibly oddly; never fail a webhook over it.
            digits = "".join(char for char in display if char.isdigit())
            if phone := normalize_phone(digits, self.ctx.default_region, international=True):
                identities.append({"kind": "phone", "value": phone})
        return _Business({"identities": identities}, metadata)

    def _customer(
        self, event: Node, phone_key: str | None, bsuid_key: str, contacts: list[Node]
    ) -> _Customer:
        """Return the WhatsApp user of `event`: phone and/or BSUID, and their profile.

        The phone is `from` (`recipient_id` for a status) or the matching contact's `wa_id`:
        digits of an international number, without `+`. Users with a username may have no phone
        in webhooks, only their BSUID (`from_user_id`, `recipient_user_id`, `contacts[].user_id`).
        """
        raw_phone = event.id(phone_key) if phone_key else None
        bsuid = event.text(bsuid_key)
        if raw_phone and not raw_phone.isdigit() and "." in raw_phone:
            raw_phone, bsuid = None, bsuid or raw_phone  # a BSUID where the phone used to be
        contact = _contact_of(contacts, raw_phone, bsuid)
        metadata: dict[str, str] = {}
        display_name = None
        if contact is not None:
            if raw_phone is None and phone_key and (wa_id := contact.id("wa_id")):
                raw_phone = wa_id
            bsuid = bsuid or contact.text("user_id")
            put(metadata, "parent_user_id", contact.text("parent_user_id"))
            if profile := contact.object("profile"):
                display_name = profile.text("name")
                put(metadata, "username", profile.text("username"))
        identities = []
        if raw_phone:
            # International digits: `Channel.interaction` normalises them, or keeps them aside.
            digits = "+" + raw_phone if raw_phone.isdigit() else raw_phone
            identities.append({"kind": "phone", "value": digits})
        if bsuid:
            identities.append({"kind": BSUID, "value": bsuid})
        return _Customer({"display_name": display_name, "identities": identities}, metadata)


def describe_errors(errors: list[Node]) -> str | None:
    """Return `errors[]` of a failed status as one line: `131047 Re-engagement message: ...`."""
    described = []
    for error in errors:
        head = " ".join(part for part in (error.id("code"), error.text("title")) if part)
        data = error.object("error_data")
        message = error.text("message")
        detail = (data.text("details") if data else None) or (
            message if message != error.text("title") else None
        )
        line = f"{head}: {detail}" if head and detail else head or detail
        if line:
            described.append(line)
    return "; ".join(described) or None


def _status_metadata(status: Node) -> dict[str, str]:
    metadata: dict[str, str] = {}
    if conversation := status.object("conversation"):
        put(metadata, "conversation_id", conversation.id("id"))
        if origin := conversation.object("origin"):
            put(metadata, "conversation_origin", origin.text("type"))
    if pricing := status.object("pricing"):
        put(metadata, "pricing_category", pricing.text("category"))
        put(metadata, "pricing_model", pricing.text("pricing_model"))
    put(metadata, "biz_opaque_callback_data", status.text("biz_opaque_callback_data"))
    return metadata


def _contact_of(contacts: list[Node], phone: str | None, bsuid: str | None) -> Node | None:
    """Return the contact describing this user: matched by id, else the only one if the event
    names nobody itself."""
    for contact in contacts:
        if (phone and contact.id("wa_id") == phone) or (bsuid and contact.text("user_id") == bsuid):
            return contact
    return contacts[0] if len(contacts) == 1 and not (phone or bsuid) else None
