"""End to end: replies sent through `whatsapp-cloud` (DESIGN §12), against a strict fake Graph API.

An inbound WhatsApp message, `POST /admin/messages` answering it, exactly one Cloud API send, a
signed status webhook marking the message delivered, the 24-hour window (free-form text refused
25 h after the customer's last message, a template sent), the Graph errors, and a send cut off
in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_graph import ACCESS_TOKEN, PHONE_NUMBER_ID, FakeGraph, graph_error
from gateway_meta.graph_send import ECHO_PREFIX
from gateway_meta.sender import classify_error
from meta_cases import APP_SECRET, VERIFY_TOKEN, hub_signature, whatsapp_body, whatsapp_value

from gateway.errors import AuthenticationError, ConfigError
from gateway.plugin import Rejected, Retry
from gateway.testing import GatewayFactory, GatewayUnderTest, eventually

CUSTOMER = "16505551234"
FAST_RETRY = {"initial_backoff": "10ms", "max_backoff": "50ms", "max_attempts": 5}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        yield fake
        fake.assert_ok()


def config(graph: FakeGraph, **send: Any) -> dict[str, Any]:
    block = {"access_token": ACCESS_TOKEN, "phone_number_id": PHONE_NUMBER_ID}
    block |= {"base_url": graph.url, "timeout": "2s", "retry": FAST_RETRY} | send
    channel = {"type": "whatsapp-cloud", "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN}
    return {"channels": {"wa": channel | {"send": block}}, "backends": {}}


@pytest.fixture
async def gut(gateway_factory: GatewayFactory, graph: FakeGraph) -> AsyncIterator[GatewayUnderTest]:
    gut = await gateway_factory(config(graph))
    async with gut.gateway.running():
        yield gut


async def post(gut: GatewayUnderTest, body: bytes) -> None:
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": hub_signature(APP_SECRET, body),
    }
    response = await gut.client.post("/webhooks/wa", data=body, headers=headers)
    assert response.status == 200, await response.text()


async def inbound(gut: GatewayUnderTest, *, hours_ago: float = 1) -> dict[str, Any]:
    """Post the customer's text sent `hours_ago`; return the stored interaction."""
    message = {
        "from": CUSTOMER,
        "id": f"wamid.HBgLin{int(hours_ago * 100)}",
        "timestamp": str(int(time.time() - hours_ago * 3600)),
        "type": "text",
        "text": {"body": "Does it come in another color?"},
    }
    contacts = [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}]
    await post(gut, whatsapp_body(whatsapp_value(messages=[message], contacts=contacts)))
    [stored] = await gut.interactions("wa")
    return stored.model_dump(mode="json")


def status_webhook(wamid: str, state: str, callback_data: str | None = None) -> bytes:
    """Return the Cloud API's status webhook for the message `wamid` (sent with
    `biz_opaque_callback_data` = `callback_data`, which every status carries back)."""
    status: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": CUSTOMER,
        "conversation": {"id": "CONVERSATION_ID", "origin": {"type": "service"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
    }
    if callback_data is not None:
        status["biz_opaque_callback_data"] = callback_data
    return whatsapp_body(whatsapp_value(statuses=[status]))


async def send(gut: GatewayUnderTest, body: dict[str, Any], key: str = "key-1") -> tuple[int, Any]:
    response = await gut.admin.post("/admin/messages", json=body, headers={"Idempotency-Key": key})
    return response.status, await response.json()


def hello(message: dict[str, Any]) -> dict[str, Any]:
    return {"to": {"interaction_id": message["id"]}, "content": {"text": "Yes, in blue"}}


async def test_a_reply_is_sent_once_and_its_status_marks_it_delivered(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut)
    status, answer = await send(gut, hello(message))
    assert status == 202, answer
    sent = await gut.message_in_state(answer["message"]["id"], "sent")
    assert graph.sent == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": CUSTOMER,
            "biz_opaque_callback_data": ECHO_PREFIX + "key-1",  # tells its statuses ours
            "context": {"message_id": message["external_id"]},  # quotes what it answers
            "type": "text",
            "text": {"preview_url": False, "body": "Yes, in blue"},
        }
    ]
    [request] = graph.requests
    assert request.path == f"/v25.0/{PHONE_NUMBER_ID}/messages"
    wamid = sent["provider_message_id"]
    assert wamid.startswith("wamid.")
    ours = ECHO_PREFIX + "key-1"
    await post(gut, status_webhook(wamid, "sent", ours))
    await post(gut, status_webhook(wamid, "delivered", ours))
    await gut.message_in_state(answer["message"]["id"], "delivered")
    await post(gut, status_webhook(wamid, "read", ours))
    await gut.message_in_state(answer["message"]["id"], "read")
    assert len(graph.sent) == 1
    outbound = [
        i for i in await gut.interactions("wa") if i.type == "message" and i.direction == "outbound"
    ]
    assert [i.external_id for i in outbound] == ["key-1"]  # its `sent` is no second answer


async def test_free_form_text_25_hours_later_is_refused_a_template_is_sent(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut, hours_ago=25)
    status, answer = await send(gut, hello(message))
    assert (status, answer["error"]["code"]) == (409, "outside_messaging_window")
    template = {"name": "order_update", "language": "pt_BR", "parameters": ["Sheena", "1042"]}
    status, answer = await send(
        gut, {"to": {"interaction_id": message["id"]}, "template": template}, "key-2"
    )
    assert status == 202, answer
    await gut.message_in_state(answer["message"]["id"], "sent")
    [body] = graph.sent
    placeholders = [{"type": "text", "text": "Sheena"}, {"type": "text", "text": "1042"}]
    assert (body["type"], body["template"]) == (
        "template",
        {
            "name": "order_update",
            "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": placeholders}],
        },
    )


async def test_the_graph_api_down_is_retried_and_sent_once(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut)
    graph.fail_next(2, status=503)
    _, answer = await send(gut, hello(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert (len(graph.sent), graph.faults_served) == (1, 2)


async def test_a_rate_limit_is_retried(gut: GatewayUnderTest, graph: FakeGraph) -> None:
    message = await inbound(gut)
    graph.fail_next(body=graph_error(130429, "Rate limit hit"), status=400)
    _, answer = await send(gut, hello(message))
    await gut.message_in_state(answer["message"]["id"], "sent")
    assert len(graph.sent) == 1


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (131047, "outside the 24-hour customer service window"),
        (131026, "undeliverable"),
        (131030, "not in the allowed list"),
    ],
)
async def test_a_refused_recipient_is_dead_with_the_reason(
    gut: GatewayUnderTest, graph: FakeGraph, code: int, reason: str
) -> None:
    message = await inbound(gut)
    graph.fail_next(body=graph_error(code, "Message failed to send"), status=400)
    _, answer = await send(gut, hello(message))
    dead = await gut.message_in_state(answer["message"]["id"], "dead")
    assert reason in dead["error"]
    assert f"error {code}" in dead["error"]
    assert graph.sent == []


async def test_an_expired_token_stops_the_sender_and_is_never_shown(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut)
    graph.fail_next(body=graph_error(190, "Error validating access token", subcode=463), status=401)
    _, answer = await send(gut, hello(message))

    async def auth_failed() -> bool:
        backends = (await (await gut.admin.get("/admin/backends")).json())["backends"]
        sender = next(b for b in backends if b["name"] == "channel:wa")
        return bool(sender["state"] == "auth_failed")

    await eventually(auth_failed)
    shown = await (await gut.admin.get("/admin/backends")).text()
    assert ACCESS_TOKEN not in shown
    assert "190" in shown
    state = await (await gut.admin.get(f"/admin/messages/{answer['message']['id']}")).json()
    assert state["message"]["state"] == "queued"  # kept for when the token is fixed
    assert graph.sent == []


async def test_a_send_cut_off_in_flight_is_parked_not_resent(
    gateway_factory: GatewayFactory, graph: FakeGraph
) -> None:
    gut = await gateway_factory(config(graph, timeout="200ms"))
    async with gut.gateway.running():
        message = await inbound(gut)
        graph.hang(1)
        _, answer = await send(gut, hello(message))
        dead = await gut.message_in_state(answer["message"]["id"], "dead")
        assert dead["error"].startswith("outcome_unknown")
        assert ACCESS_TOKEN not in dead["error"]
        await asyncio.sleep(0.3)
        assert len(graph.requests) == 1


def test_graph_errors_are_classified() -> None:
    for code in (4, 80007, 130429, 131048, 131056):
        assert isinstance(classify_error(400, graph_error(code, "slow down"), None), Retry)
    assert classify_error(503, None, 2.0) == Retry("Graph 503", 2.0)
    rejected = classify_error(400, graph_error(131047, "Re-engagement message"), None)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith("outside the 24-hour customer service window")
    assert "fbtrace_id AbCdEfGh123" in rejected.reason
    assert isinstance(classify_error(400, graph_error(100, "Invalid parameter"), None), Rejected)
    with pytest.raises(AuthenticationError):
        classify_error(400, graph_error(190, "expired"), None)
    for status, answer in ((401, None), (403, None), (400, graph_error(10, "no permission"))):
        with pytest.raises(AuthenticationError):
            classify_error(status, answer, None)


async def test_send_settings_are_checked(gateway_factory: GatewayFactory, graph: FakeGraph) -> None:
    with pytest.raises(ConfigError, match="phone_number_id"):
        await gateway_factory(config(graph, phone_number_id="+15550783881"))
    with pytest.raises(ConfigError, match="access_token"):
        await gateway_factory(config(graph, access_token=" "))
    messenger = config(graph)
    messenger["channels"]["wa"]["type"] = "messenger"
    with pytest.raises(ConfigError, match=r"channels\.wa\.send\.phone_number_id: unknown key"):
        await gateway_factory(messenger)


async def test_template_parameters_too_long_to_keep_are_refused_before_queueing(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut)
    template = {"name": "order_update", "parameters": ["x" * 1000] * 5}
    status, answer = await send(
        gut, {"to": {"interaction_id": message["id"]}, "template": template}
    )
    assert status == 422, answer
    assert "parameters" in answer["error"]["message"]
    assert graph.sent == []


async def test_a_message_sent_elsewhere_is_an_answer_from_its_sent_status(
    gut: GatewayUnderTest, graph: FakeGraph
) -> None:
    message = await inbound(gut)
    elsewhere = "wamid.SENT_FROM_THE_BUSINESS_APP"
    await post(gut, status_webhook(elsewhere, "sent"))
    await post(gut, status_webhook(elsewhere, "delivered"))
    stored = await gut.interactions("wa")
    statuses = [i.status.state for i in stored if i.status is not None]
    assert statuses == ["sent", "delivered"]
    [answer] = [i for i in stored if i.type == "message" and i.direction == "outbound"]
    assert (answer.external_id, answer.content) == (elsewhere, None)
    assert answer.metadata["sent_elsewhere"] == "true"
    assert "automated" not in answer.metadata
    assert answer.conversation_id == message["conversation_id"]
    assert answer.customer_id == message["customer_id"]
    assert [i.metadata.get("sent_elsewhere") for i in stored if i.type == "status"] == [None, None]
    assert graph.requests == []
    metrics = await (await gut.client.get("/metrics")).text()
    assert 'gateway_first_response_seconds_count{channel_kind="whatsapp"} 1.0' in metrics
    assert "gateway_unanswered_conversations 0.0" in metrics
