"""Through a running gateway: the e-mail channel with a `send:` block, a `webhook` backend's
receiver, and the steps of a reply (the inbound e-mail, `POST /admin/messages`, the provider's
events posted back)."""

from __future__ import annotations

from typing import Any

from email_cases import (
    BASIC,
    OURS,
    SIGNING_KEY,
    authorization,
    content_type,
    fixture,
)
from provider_events import EVENT_PUBLIC_KEY, sign_sendgrid
from send_cases import FAST, FROM

from gateway.testing import GatewayUnderTest, WebhookReceiver

CHANNEL = "mail"
INBOUND = {
    "postmark-inbound": "postmark_reply.json",
    "sendgrid-inbound": "sendgrid_parsed.multipart",
    "mailgun-inbound": "mailgun_reply.form",
}


def config(
    type_name: str, send: dict[str, Any], webhook_receiver: WebhookReceiver
) -> dict[str, Any]:
    inbounds: dict[str, dict[str, Any]] = {
        "postmark-inbound": BASIC,
        "sendgrid-inbound": BASIC | {"event_webhook_key": EVENT_PUBLIC_KEY},
        # The recorded Mailgun post was signed on 2026-11-22: accepted however long ago that is.
        "mailgun-inbound": {"signing_key": SIGNING_KEY, "max_age": "3650d"},
    }
    inbound = inbounds[type_name]
    channel = {"type": type_name, "inbound_addresses": [OURS], **inbound}
    channel["send"] = {"from": FROM, **FAST, **send}
    backend = webhook_receiver.backends()["crm"]
    # The recorded e-mails are dated 2026-11-22: their conversation stays open for the reply.
    identity = {"conversation_window": "3650d"}
    return {"channels": {CHANNEL: channel}, "backends": {"crm": backend}, "identity": identity}


async def post_webhook(gut: GatewayUnderTest, type_name: str, body: bytes, name: str) -> None:
    headers = {"Content-Type": content_type(name, body)}
    if type_name == "sendgrid-inbound" and name.endswith(".json"):
        headers |= sign_sendgrid(body)
    elif type_name != "mailgun-inbound":
        headers |= authorization()
    response = await gut.client.post(f"/webhooks/{CHANNEL}", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def inbound(gut: GatewayUnderTest, type_name: str) -> dict[str, Any]:
    name = INBOUND[type_name]
    await post_webhook(gut, type_name, fixture(name), name)
    [email] = await gut.interactions(CHANNEL)
    return email.model_dump(mode="json")


async def reply(gut: GatewayUnderTest, to: dict[str, Any], **content: Any) -> str:
    content = {"text": "It ships today.", "subject": "Re: Order 1042"} | content
    body = {"to": {"interaction_id": to["id"]}, "content": content}
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": "k1"})
    answer = await response.json()
    assert response.status == 202, answer
    return str(answer["message"]["id"])


def threading(answered: dict[str, Any]) -> dict[str, str]:
    """Return the `In-Reply-To` and `References` a reply to `answered` must carry."""
    own, root = answered["external_id"], answered["thread_external_id"]
    chain = " ".join(f"<{i}>" for i in dict.fromkeys([root, own]))
    return {"In-Reply-To": f"<{own}>", "References": chain}
