"""The Grafana dashboard (`deploy/grafana/gateway.json`) queries only metrics the gateway exports:
every metric name in every PromQL query is one a started gateway's `/metrics` declares."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import GatewayFactory

DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "gateway.json"
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_NAME = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
"""An identifier not inside a number or duration, and not a function's name."""
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
    | {"group_left", "group_right"}
)
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", re.DOTALL)
_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
"""The series each `# TYPE` family exposes (a counter's TYPE line names it with `_total`)."""
REQUIRED = {
    "gateway_webhook_requests_total": "ingest by outcome and channel",
    "gateway_delivery_lag_seconds": "delivery lag",
    "gateway_delivery_queue_depth": "queue depth",
    "gateway_dead_letter_queue": "dead letters waiting",
    "gateway_dead_letters_total": "dead-lettering",
    "gateway_circuit_state": "circuit state",
    "gateway_identity_events_total": "identity events",
}


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression (or a `label_values(...)` query) reads."""
    if match := _LABEL_VALUES.match(expr):
        expr = match[1]
    expr = _STRING.sub(" ", expr)
    expr = _MATCHERS.sub(" ", expr)
    expr = _RANGE.sub(" ", expr)
    expr = _GROUPING.sub(" ", expr)
    expr = _VARIABLE.sub(" ", expr)
    return {name for name in _NAME.findall(expr) if name.lower() not in _KEYWORDS}


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Yield (where, query) for every panel target and every query variable."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield (
                f"variable {variable['name']}",
                query["query"] if isinstance(query, dict) else query,
            )


def unknown_metrics(dashboard: dict[str, Any], exported: set[str]) -> dict[str, set[str]]:
    """Return, by place, the metric names the dashboard's queries read that are not exported."""
    found = {where: metric_names(query) - exported for where, query in queries(dashboard)}
    return {where: names for where, names in found.items() if names}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
async def exported(gateway_factory: GatewayFactory, config: dict[str, Any]) -> set[str]:
    """The series names a started gateway's `/metrics` declares (every `# TYPE` family)."""
    gut = await gateway_factory(config)
    response = await gut.client.get("/metrics")
    assert response.status == 200
    families = re.findall(r"^# TYPE (\S+) (\S+)$", await response.text(), flags=re.MULTILINE)
    assert families
    return {name + suffix for name, kind in families for suffix in _SUFFIXES.get(kind, ("",))}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (channel, outcome) (rate(gateway_webhook_requests_total{channel=~"$channel",'
            ' outcome!~"stored|duplicate"}[$__rate_interval]))',
            {"gateway_webhook_requests_total"},
        ),
        ("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))", {"x_bucket"}),
        ("a / on (instance) group_left (job) b offset 5m", {"a", "b"}),
        ("count(up == 0) or vector(0) unless 1e3 * foo_total", {"up", "foo_total"}),
        ('m{label="{braces}, \\"quotes\\" and (parens"}', {"m"}),
        ('label_values(gateway_x_count{instance=~"$instance"}, instance)', {"gateway_x_count"}),
        ("max by (backend) (gateway_circuit_state{gateway_circuit_state=\"open\"} == 1)",
         {"gateway_circuit_state"}),
    ],
)  # fmt: skip
def test_metric_names_of_a_query(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


async def test_every_query_names_an_exported_metric(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    assert len(list(queries(dashboard))) >= 25
    assert unknown_metrics(dashboard, exported) == {}


async def test_the_check_sees_a_metric_that_does_not_exist(
    dashboard: dict[str, Any], exported: set[str]
) -> None:
    broken = json.loads(json.dumps(dashboard))
    target = broken["panels"][1]["targets"][0]
    target["expr"] = target["expr"].replace("gateway_webhook_requests_total", "gateway_webhooks")
    where = f"panel {broken['panels'][1]['title']!r} {target['refId']}"
    assert unknown_metrics(broken, exported) == {where: {"gateway_webhooks"}}


def test_the_dashboard_covers_what_operators_watch(dashboard: dict[str, Any]) -> None:
    read = set().union(*(metric_names(query) for _, query in queries(dashboard)))
    missing = {name: why for name, why in REQUIRED.items() if name not in read}
    assert not missing


def test_every_panel_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for owner in (panel, *panel["targets"]):
            assert owner["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
