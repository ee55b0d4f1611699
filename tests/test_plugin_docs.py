"""docs/plugins.md: its examples run as written, and it documents every hook and error."""

from __future__ import annotations

import inspect
import re
import sys
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from gateway import errors, hookspecs
from gateway.config_loader import parse_config
from gateway.errors import ConfigError
from gateway.plugin import BackendContext, ChannelRegistry, Delivered, Delivery, Rejected, Retry
from gateway.plugins import ENTRY_POINT_GROUP, load_plugins
from gateway.schema import Interaction
from gateway.testing import GatewayFactory

DOC_PATH = Path(__file__).parents[1] / "docs" / "plugins.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
BLOCKS: list[tuple[str, str]] = re.findall(
    r"<!-- example: (\S+) -->\n```\w+\n(.*?)\n```", DOC, re.DOTALL
)
EXAMPLES = dict(BLOCKS)
PLUGINS = {  # example block -> (entry-point name, module name)
    "plugin": ("example", "gateway_example"),
    "backend": ("tickets", "gateway_tickets"),
    "enricher": ("redact", "gateway_redact"),
}


def exec_example(name: str, namespace: dict[str, Any]) -> None:
    exec(compile(EXAMPLES[name], f"{DOC_PATH}:{name}", "exec"), namespace)


def documented_conformance() -> type:
    """Return the doc's `TestTicketsConformance`, importing the doc's `gateway_tickets`."""
    tickets = ModuleType("gateway_tickets")
    exec_example("backend", tickets.__dict__)
    namespace: dict[str, Any] = {"__name__": "test_tickets_conformance"}
    with mock.patch.dict(sys.modules, {"gateway_tickets": tickets}):
        exec_example("backend-tests", namespace)
    return namespace["TestTicketsConformance"]  # type: ignore[no-any-return]


TestDocumentedTicketsConformance = documented_conformance()
"""The documented backend passes the documented conformance tests, collected here."""


@pytest.fixture(autouse=True)
def installed(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """Import the example plugins from the doc and install them under `gateway.plugins`."""
    modules = {}
    for example, (_, module_name) in PLUGINS.items():
        module = ModuleType(module_name)
        monkeypatch.setitem(sys.modules, module_name, module)
        exec_example(example, module.__dict__)
        modules[example] = module
    ours = [EntryPoint(name, module, ENTRY_POINT_GROUP) for name, module in PLUGINS.values()]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [*metadata.entry_points(group=group), *(ours if group == ENTRY_POINT_GROUP else ())]

    monkeypatch.setattr("gateway.plugins.entry_points", entry_points)
    return modules


@pytest.fixture
def example_tests() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "test_example"}
    exec_example("tests", namespace)
    return namespace


def interaction(text: str | None = "hello") -> Interaction:
    return Interaction(
        type="message",
        direction="inbound",
        channel={"id": "chat", "kind": "webchat", "provider": "example"},
        external_id="evt_1",
        occurred_at=datetime(2026, 11, 22, 10, tzinfo=UTC),
        received_at=datetime(2026, 11, 22, 10, tzinfo=UTC),
        content=None if text is None else {"text": text},
    )


def test_every_example_is_exercised() -> None:
    names = sorted(name for name, _ in BLOCKS)
    assert names == sorted(
        ["pyproject", "plugin", "config", "backend", "enricher", "tests", "backend-tests"]
    )


def test_every_hook_is_documented_with_its_docstring() -> None:
    hooks = [
        (name, function)
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "gateway_spec")
    ]
    assert len(hooks) == 3
    flat = " ".join(DOC.split())
    for name, function in hooks:
        assert f"`{name}(" in DOC, f"hook {name} is missing from docs/plugins.md"
        docstring = " ".join((inspect.getdoc(function) or "").split())
        assert docstring in flat, f"docs/plugins.md does not quote the docstring of {name}"


def test_error_tree_matches_gateway_errors() -> None:
    tree = errors.__doc__.partition("::\n\n")[2]
    assert inspect.cleandoc(tree) in DOC


def test_pyproject_declares_the_example_module() -> None:
    project = tomllib.loads(EXAMPLES["pyproject"])["project"]
    assert project["entry-points"][ENTRY_POINT_GROUP] == dict([PLUGINS["plugin"]])


def test_example_channel_registers_through_a_registry(installed: dict[str, ModuleType]) -> None:
    example = installed["plugin"]
    registry = ChannelRegistry()
    example.gateway_register_channels(registry)
    assert registry["example-type"].cls is example.ExampleChannel


def test_examples_load_as_installed_plugins() -> None:
    plugins = load_plugins(disabled=())
    assert plugins.channels["example-type"].source.plugin == "example"
    assert "example-tickets" in plugins.backends
    assert "redact-digits" in plugins.enrichers


def test_example_config_is_valid_and_needs_its_secret() -> None:
    plugins = load_plugins(disabled=())
    config = parse_config(EXAMPLES["config"], "gw.yaml", plugins, {"EXAMPLE_CHAT_TOKEN": "s3cret"})
    assert config.channels["chat"].type == "example-type"
    with pytest.raises(ConfigError, match=r"channels\.chat: no secret configured \(token\)"):
        parse_config(EXAMPLES["config"], "gw.yaml", plugins, {"EXAMPLE_CHAT_TOKEN": ""})


def test_example_unit_tests_pass(example_tests: dict[str, Any]) -> None:
    sync_tests = [
        name
        for name, function in example_tests.items()
        if name.startswith("test_") and not inspect.iscoroutinefunction(function)
    ]
    assert len(sync_tests) == 3
    for name in sync_tests:
        example_tests[name]()


async def test_example_gateway_test_passes(
    example_tests: dict[str, Any], gateway_factory: GatewayFactory
) -> None:
    await example_tests["test_stores_and_acknowledges"](gateway_factory)


def test_example_enricher_masks_digit_runs(installed: dict[str, ModuleType]) -> None:
    redact = installed["enricher"]
    enricher = redact.RedactDigits("redact", redact.RedactSettings(type="redact-digits"))
    masked = enricher.enrich(interaction("card 4111111111111111, order 1234"))
    assert masked.content is not None
    assert masked.content.text == "card ################, order 1234"
    assert enricher.enrich(interaction(None)).content is None


async def test_example_backend_classifies_every_answer(
    installed: dict[str, ModuleType], aiohttp_server: AiohttpServer
) -> None:
    tickets = installed["backend"]
    seen: list[tuple[str | None, str | None]] = []
    answers = [
        web.json_response({"id": 42}, status=201),
        web.Response(status=429, headers={"Retry-After": "30"}),
        web.Response(status=400, text="subject is required"),
    ]

    async def create_ticket(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Idempotency-Key"), request.headers.get("Authorization")))
        return answers[len(seen) - 1]

    app = web.Application()
    app.router.add_post("/v1/tickets", create_ticket)
    server = await aiohttp_server(app)
    settings = tickets.TicketsSettings(
        type="example-tickets", api_key="k", base_url=str(server.make_url("/"))
    )
    sent = interaction()
    async with aiohttp.ClientSession() as http:
        backend = tickets.TicketsBackend(BackendContext("tickets", http), settings)
        outcomes = [
            (await backend.deliver([Delivery(id=n, interaction=sent, attempt=1)]))[0]
            for n in range(3)
        ]
    assert outcomes == [
        Delivered(record_refs=("ticket 42",)),
        Retry("HTTP 429: ", after_s=30.0),
        Rejected("HTTP 400: subject is required"),
    ]
    assert seen == [(sent.id, "Bearer k")] * 3
    await server.close()
    async with aiohttp.ClientSession() as http:
        backend = tickets.TicketsBackend(BackendContext("tickets", http), settings)
        [unreachable] = await backend.deliver([Delivery(id=4, interaction=sent, attempt=2)])
    assert isinstance(unreachable, Retry)
    assert unreachable.reason.startswith("ClientConnectorError")
