"""The configuration reference: generated, up to date, and covering every documented field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from gateway.config import GatewayConfig
from gateway.config_loader import DEFAULT_CONFIG
from gateway.config_reference import core_plugins, render_config_reference
from gateway.plugins import CORE_DISTRIBUTION, Plugins

DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return core_plugins()


@pytest.fixture(scope="module")
def reference(plugins: Plugins) -> str:
    return render_config_reference(plugins)


def config_models(plugins: Plugins) -> list[type[BaseModel]]:
    """Return every model reachable from GatewayConfig and the plugins' settings models."""
    found: dict[type[BaseModel], None] = {}

    def visit(annotation: Any) -> None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation not in found:
            found[annotation] = None
            for field in annotation.model_fields.values():
                visit(field.annotation)
        for arg in get_args(annotation):
            visit(arg)

    visit(GatewayConfig)
    for registry in (plugins.channels, plugins.backends, plugins.enrichers):
        for registration in registry:
            visit(registration.cls.settings_model)
    return list(found)


def fields(plugins: Plugins) -> Iterator[tuple[str, str, str | None]]:
    for model in config_models(plugins):
        for name, field in model.model_fields.items():
            yield model.__qualname__, name, field.description


def test_doc_is_up_to_date(reference: str) -> None:
    assert DOC.read_text(encoding="utf-8") == reference, (
        "docs/configuration.md is out of date: run `make docs` and commit the result"
    )


def test_only_core_plugins_are_documented(plugins: Plugins) -> None:
    assert {source.distribution for source in plugins.sources} == {CORE_DISTRIBUTION}


def test_every_model_and_field_has_a_docstring(plugins: Plugins) -> None:
    undocumented = [f"{model}.{name}" for model, name, doc in fields(plugins) if not doc]
    undocumented += [m.__qualname__ for m in config_models(plugins) if not m.__doc__]
    assert not undocumented, (
        "write an attribute docstring (a string right under the field) for: "
        + ", ".join(undocumented)
    )


def test_every_field_is_in_the_reference(plugins: Plugins, reference: str) -> None:
    text = reference.replace("\\|", "|")
    missing = [
        f"{model}.{name}"
        for model, name, doc in fields(plugins)
        if f"| `{name}` |" not in text or " ".join((doc or "").split()) not in text
    ]
    assert not missing, f"fields missing from the configuration reference: {', '.join(missing)}"


def test_every_plugin_type_has_a_section(plugins: Plugins, reference: str) -> None:
    for registry in (plugins.channels, plugins.backends, plugins.enrichers):
        for registration in registry:
            heading = f"{registry.what.capitalize()} type `{registration.cls.type_name}`"
            assert heading in reference


def test_default_config_is_embedded_verbatim(reference: str) -> None:
    assert f"```yaml\n{DEFAULT_CONFIG.read_text(encoding='utf-8').rstrip()}\n```" in reference


def test_types_are_written_for_people(reference: str) -> None:
    assert "| `conversation_window` | duration | `1d` |" in reference
    assert "| `token` | secret | `null` |" in reference
    assert "| `to` | one or a list of string | required |" in reference
    assert "| `synchronous` | `full` \\| `normal` \\| `off` | `full` |" in reference
