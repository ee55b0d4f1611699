"""End to end: replies sent through `messenger` and `instagram` (DESIGN §12), against a strict fake
Send API.

Per channel: an inbound signed webhook, `POST /admin/messages` answering it, exactly one Send
API request, the receipt webhook moving the message forward (Messenger's delivery names its
`mids`: delivered; Instagram has only reads: read), and the `webhook` backend receiving the
outbound interaction in the customer's conversation after the inbound one. Also the windows
(24 h free text, `HUMAN_AGENT` to 7 days), the Graph errors, a send cut off in flight,
attachments, and echoes: the gateway's own stored once, one sent elsewhere an answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_graph import graph_error
from fake_send_api import INSTAGRAM, MESSENGER, FakeSendAPI, Product
from gateway_meta.graph_send import ECHO_PREFIX
from gateway_meta.messaging_sender import MessengerSender
from meta_cases import APP_SECRET, VERIFY_TOKEN, hub_signature, messaging_body

from gateway.errors import AuthenticationError, ConfigError
from gateway.plugin import Rejected, Retry
from gateway.testing import GatewayFactory, GatewayUnderTest, WebhookReceiver, eventually

FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}
SEND_KEYS = {
    "messenger": ("page_access_token", "page_id"),
    "instagram": ("access_token", "ig_user_id"),
}
PRODUCTS = [pytest.param(MESSENGER, id="messenger"), pytest.param(INSTAGRAM, id="instagram")]


@pytest.fixture(params=PRODUCTS)
async def api(request: pytest.FixtureRequest) -> AsyncIterator[FakeSendAPI]:
    async with FakeSendAPI(request.param) as fake:
        yield fake
        fake.assert_ok()


def config(api: FakeSendAPI, webhook_receiver: WebhookReceiver, **send: Any) -> dict[str, Any]:
    product = api.product
    token_key, account_key = SEND_KEYS[product.name]
    block = {token_key: product.token, account_key: product.account_id, "base_url": api.url}
    block |= {"timeout": "2s", "retry": FAST_RETRY} | send
    channel = {"type": product.name, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}
    return {
        "channels": {product.name: channel | {"send": block}},
        "backends": webhook_receiver.backends(),
    }


@pytest.fixture
async def gut(
    gateway_factory: GatewayFactory, api: FakeSendAPI, webhook_receiver: WebhookReceiver
) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(config(api, webhook_receiver))
    async with gut.gateway.running():
        yield gut


async def post_event(gut: GatewayUnderTest, product: Product, event: dict[str, Any]) -> Any:
    """Post one `messaging[]` event, signed as Meta signs it; return the answer."""
    object_name = "page" if product is MESSENGER else "instagram"
    body = messaging_body(event, object_name=object_name)
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": hub_signature(APP_SECRET, body),
    }
    response = await gut.client.post(f"/webhooks/{product.name}", data=body, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


def from_customer(product: Product, **fields: Any) -> dict[str, Any]:
    return {"sender": {"id": product.customer}, "recipient": {"id": product.account_id}} | fields


def to_customer(product: Product, **fields: Any) -> dict[str, Any]:
    return {"sender": {"id": product.account_id}, "recipient": {"id": product.customer}} | fields


def millis(hours_ago: float = 0) -> int:
    return int((time.time() - hours_ago * 3600) * 1000)


async def inbound(gut: GatewayUnderTest, product: Product, *, hours_ago: float = 1) -> Any:
    """Post the customer's text sent `hours_ago`; return the stored interaction."""
    message = {"mid": f"m_in_{int(hours_ago * 100)}", "text": "Is the blue one in stock?"}
    await post_event(
        gut, product, from_customer(product, timestamp=millis(hours_ago), message=message)
    )
    [stored] = await gut.interactions(product.name)
    return stored.model_dump(mode="json")


async def send(gut: GatewayUnderTest, body: dict[str, Any], key: str = "key-1") -> tuple[int, Any]:
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": key})
    return response.status, await response.json()


def reply(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"to": {"interaction_id": message["id"]}, "content": {"text": "Yes, in blue"}} | extra


def expected_body(product: Product, text: str, key: str = "key-1", **tagged: str) -> Any:
    message: dict[str, Any] = {"text": text}
    if product.takes_metadata:
        message["metadata"] = ECHO_PREFIX + key
    kind = {"messaging_type": "MESSAGE_TAG"} if tagged else {"messaging_type": "RESPONSE"}
    return {"recipient": {"id": product.customer}, **kind, **tagged, "message": message}


def receipt(product: Product, mid: str) -> dict[str, Any]:
    """Return the receipt that moves the message `mid` furthest: a Messenger delivery naming
    it, an Instagram read (Instagram sends no deliveries)."""
    if product is MESSENGER:
        delivery = {"mids": [mid], "watermark": millis()}
        return from_customer(product, delivery=delivery)
    return from_customer(product, timestamp=millis(), read={"mid": mid})


async def test_a_reply_is_sent_once_moved_by_its_receipt_and_reaches_the_crm(
    gut: GatewayUnderTest, api: FakeSendAPI, webhook_receiver: WebhookReceiver
) -> None:
    product = api.product
    message = await inbound(gut, product)
    status, answer = await send(gut, reply(message))
    assert status == 202, answer
    sent = await gut.message_in_state(answer["message"]["id"], "sent")
    assert api.sent == [expected_body(product, "Yes, in blue")]
    [request] = api.requests
    assert request.path == f"/v25.0/{product.account_id}/messages"
    assert sent["provider_message_id"] == api.mid(1)
    await post_event(gut, product, receipt(product, api.mid(1)))
    state = "delivered" if product is MESSENGER else "read"
    await gut.message_in_state(answer["message"]["id"], state)
    assert len(api.sent) == 1

    async def crm_has_both() -> bool:
        return {"inbound", "outbound"} <= {i["direction"] for i in webhook_receiver.interactions}

    await eventually(crm_has_both)
    first, second = [i for i in webhook_receiver.interactions if i["type"] == "message"]
    assert (first["direction"], first["id"]) == ("inbound", message["id"])
    assert (second["direction"], second["external_id"]) == ("outbound", "key-1")
    assert second["conversation_id"] == message["conversation_id"]
    assert second["recipient"]["identities"][0]["value"] == product.customer


async def test_windows_free_text_24_hours_human_agent_7_days(
    gut: GatewayUnderTest, api: FakeSendAPI
) -> None:
    product = api.product
    message = await inbound(gut, product, hours_ago=25)
    status, answer = await send(gut, reply(message))
    assert (status, answer["error"]["code"]) == (409, "outside_messaging_window")
    status, answer = await send(gut, reply(message, tag="HUMAN_AGENT"), "key-2")
    assert status == 202, answer
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert api.sent == [expected_body(product, "Yes, in blue", "key-2", tag="HUMAN_AGENT")]


async def test_human_agent_8_days_later_is_refused(gut: GatewayUnderTest, api: FakeSendAPI) -> None:
    message = await inbound(gut, api.product, hours_ago=8 * 24)
    status, answer = await send(gut, reply(message, tag="HUMAN_AGENT"))
    assert (status, answer["error"]["code"]) == (409, "outside_messaging_window")
    assert api.requests == []


async def test_the_send_api_down_is_retried_and_sent_once(
    gut: GatewayUnderTest, api: FakeSendAPI
) -> None:
    message = await inbound(gut, api.product)
    api.fail_next(2, status=503)
    _, answer = await send(gut, reply(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert (len(api.sent), api.faults_served) == (1, 2)


@pytest.mark.parametrize(
    "fault", [{"status": 429}, {"status": 400, "body": graph_error(613, "Calls exceeded")}]
)
async def test_a_rate_limit_is_retried(
    gut: GatewayUnderTest, api: FakeSendAPI, fault: dict[str, Any]
) -> None:
    message = await inbound(gut, api.product)
    api.fail_next(**fault)
    _, answer = await send(gut, reply(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert (len(api.sent), api.faults_served) == (1, 1)


@pytest.mark.parametrize(
    ("code", "subcode", "reason"),
    [(10, 2018278, "outside the 24-hour messaging window"), (551, 1545041, "isn't available")],
)
async def test_a_refused_send_is_dead_with_the_reason(
    gut: GatewayUnderTest, api: FakeSendAPI, code: int, subcode: int, reason: str
) -> None:
    message = await inbound(gut, api.product)
    api.fail_next(body=graph_error(code, "refused", subcode=subcode), status=400)
    _, answer = await send(gut, reply(message))
    dead = await gut.message_in_state(answer["message"]["id"], "dead")
    assert reason in dead["error"]
    assert f"error {code}/{subcode}" in dead["error"]
    assert api.sent == []


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory, api: FakeSendAPI, webhook_receiver: WebhookReceiver
) -> None:
    gut = await gateway_factory(config(api, webhook_receiver, timeout="200ms"))
    async with gut.gateway.running():
        message = await inbound(gut, api.product)
        api.hang(1)
        _, answer = await send(gut, reply(message))
        dead = await gut.message_in_state(answer["message"]["id"], "dead")
        assert dead["error"].startswith("outcome_unknown")
        assert api.product.token not in dead["error"]
        await asyncio.sleep(0.3)
        assert len(api.requests) == 1


async def test_attachments_follow_the_text_one_request_each(
    gut: GatewayUnderTest, api: FakeSendAPI
) -> None:
    message = await inbound(gut, api.product)
    files = [
        {"url": "https://cdn.example/blue.jpg", "content_type": "image/jpeg"},
        {"url": "https://cdn.example/sizes.pdf", "content_type": "application/pdf"},
        {"url": "https://cdn.example/demo.mp4", "content_type": "video/mp4"},
    ]
    body = reply(message)
    body["content"]["attachments"] = files
    _, answer = await send(gut, body)
    sent = await gut.message_in_state(answer["message"]["id"], "sent")
    assert sent["provider_message_id"] == api.mid(1)  # the text's
    kinds = [m["message"].get("attachment", {}).get("type", "text") for m in api.sent]
    assert kinds == ["text", "image", "file", "video"]
    attachment = api.sent[1]["message"]["attachment"]
    assert attachment["payload"]["url"] == "https://cdn.example/blue.jpg"
    assert {m["messaging_type"] for m in api.sent} == {"RESPONSE"}


async def test_a_later_part_refused_is_logged_and_the_message_stays_sent(
    gut: GatewayUnderTest, api: FakeSendAPI, caplog: pytest.LogCaptureFixture
) -> None:
    message = await inbound(gut, api.product)
    body = reply(message)
    body["content"]["attachments"] = [{"url": "https://cdn.example/a.png"}]
    caplog.set_level(logging.WARNING)
    api.attachment_error = graph_error(100, "Attachment too big", subcode=2018109)
    _, answer = await send(gut, body)
    sent = await gut.message_in_state(answer["message"]["id"], "sent")
    assert sent["provider_message_id"] == api.mid(1)
    assert [m["message"] for m in api.sent] == [
        expected_body(api.product, "Yes, in blue")["message"]
    ]
    assert "part 2 of 2" in caplog.text
    assert "2018109" in caplog.text
    assert api.product.token not in caplog.text


async def test_echoes_the_gateways_own_once_one_sent_elsewhere_an_answer(
    gut: GatewayUnderTest, api: FakeSendAPI
) -> None:
    product = api.product
    message = await inbound(gut, product)
    _, answer = await send(gut, reply(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    echo: dict[str, Any] = {"mid": api.mid(1), "is_echo": True, "text": "Yes, in blue"}
    if product.takes_metadata:  # Messenger echoes the metadata the gateway sent
        echo |= {"app_id": 1517776481860111, "metadata": ECHO_PREFIX + "key-1"}
    await post_event(gut, product, to_customer(product, timestamp=millis(), message=echo))
    own = [i for i in await gut.interactions(product.name) if i.direction == "outbound"]
    # Stored once, as the gateway's message: Messenger's echo names it by the metadata the
    # gateway sent, Instagram's by its mid, the id the Send API answered with.
    assert [i.external_id for i in own] == ["key-1"]
    # The Page inbox (or another tool) answers: an outbound message in the same conversation.
    inbox = {"mid": "m_from_page_inbox", "is_echo": True, "text": "Sent from the inbox"}
    await post_event(gut, product, to_customer(product, timestamp=millis(), message=inbox))
    [elsewhere] = [
        i for i in await gut.interactions(product.name) if i.external_id == "m_from_page_inbox"
    ]
    assert (elsewhere.type, elsewhere.direction) == ("message", "outbound")
    assert elsewhere.conversation_id == message["conversation_id"]
    assert elsewhere.customer_id == message["customer_id"]
    assert "own_app" not in elsewhere.metadata


def test_send_api_errors_are_classified() -> None:
    errors = MessengerSender.errors
    for code in (4, 17, 32, 613, 1200, 80006, 2):
        assert isinstance(errors.classify(400, graph_error(code, "later"), None), Retry)
    assert errors.classify(503, None, 3.0) == Retry("Graph 503", 3.0)
    for status in (400, 403):  # the window is code 10, a permission code: not the token
        window = errors.classify(status, graph_error(10, "outside", subcode=2018278), None)
        assert isinstance(window, Rejected)
        assert window.reason.startswith("outside the 24-hour messaging window")
    unavailable = errors.classify(400, graph_error(551, "This person isn't available"), None)
    assert isinstance(unavailable, Rejected)
    assert "isn't available" in unavailable.reason
    assert isinstance(errors.classify(400, graph_error(100, "Invalid parameter"), None), Rejected)
    for status, answer in (
        (400, graph_error(190, "expired")),
        (400, graph_error(10, "no")),
        (401, None),
    ):
        with pytest.raises(AuthenticationError, match="Messenger refused the access token"):
            errors.classify(status, answer, None)


@pytest.mark.parametrize("product", PRODUCTS)
async def test_send_settings_are_checked(
    gateway_factory: GatewayFactory, webhook_receiver: WebhookReceiver, product: Product
) -> None:
    token_key, account_key = SEND_KEYS[product.name]
    async with FakeSendAPI(product) as api:
        with pytest.raises(ConfigError, match=account_key):
            await gateway_factory(config(api, webhook_receiver, **{account_key: "my-page"}))
        with pytest.raises(ConfigError, match=token_key):
            await gateway_factory(config(api, webhook_receiver, **{token_key: " "}))
