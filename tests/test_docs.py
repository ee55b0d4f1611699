"""Docs that describe code are checked against it, so they cannot drift silently."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.schema import CHANNEL_KINDS, Interaction

DOCS = Path(__file__).parent.parent / "docs"


def test_every_interaction_field_is_documented() -> None:
    text = (DOCS / "interaction.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)`", text, flags=re.MULTILINE))
    pairs = re.findall(r"^\| `(\w+)`, `(\w+)`", text, flags=re.MULTILINE)
    documented |= {name for pair in pairs for name in pair}
    assert {field.alias or name for name, field in Interaction.model_fields.items()} <= documented
    for kind in CHANNEL_KINDS:
        assert f"`{kind}`" in text


def test_every_metric_is_documented() -> None:
    from gateway.metrics import Metrics

    text = (DOCS / "operations.md").read_text()
    for metric in Metrics().registry.collect():
        name = metric.name + ("_total" if metric.type == "counter" else "")
        assert f"`{name}`" in text, f"{name} is missing from docs/operations.md"


def test_every_admin_route_is_documented() -> None:
    from prometheus_client import CollectorRegistry

    from gateway.admin import create_admin_app
    from gateway.config import GatewayConfig
    from gateway.metrics import Metrics
    from gateway.plugins import load_plugins
    from gateway.runtime import Gateway

    gateway = Gateway(GatewayConfig(), load_plugins(), metrics=Metrics(CollectorRegistry()))
    served = {
        (route.method, route.resource.canonical)
        for route in create_admin_app(gateway).router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    text = (DOCS / "http-api.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z]+) (/admin/[^`?]*)", text, flags=re.MULTILINE))
    assert served == documented
