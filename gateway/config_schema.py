"""The JSON Schema of `gateway.yaml` for the installed plugins, for editors to autocomplete."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from gateway.backend import BackendSettings
from gateway.channel import ChannelSettings
from gateway.config import GatewayConfig, Name
from gateway.enricher import EnricherSettings
from gateway.plugins import Plugins
from gateway.registry import Registry

__all__ = ["config_json_schema", "config_model"]


def _variants(registry: Registry[Any], base: type[BaseModel]) -> Any:
    """Return the union of the registry's settings models, discriminated on `type`."""
    variants = []
    for registration in registry:
        type_field: dict[str, Any] = {"type": (Literal[registration.cls.type_name], ...)}
        variants.append(
            create_model(
                f"{registration.cls.__name__}Settings",
                __base__=registration.cls.settings_model,
                __doc__=registration.cls.settings_model.__doc__,
                **type_field,
            )
        )
    if not variants:
        return base
    if len(variants) == 1:
        return variants[0]
    return Annotated[Union[tuple(variants)], Field(discriminator="type")]  # noqa: UP007


def config_model(plugins: Plugins) -> type[BaseModel]:
    """Return `GatewayConfig` with plugin blocks typed by the installed plugins' settings."""
    sections: dict[str, Any] = {
        section: (dict[Name, _variants(registry, base)], Field(default_factory=dict))  # type: ignore[misc]
        for section, registry, base in (
            ("channels", plugins.channels, ChannelSettings),
            ("backends", plugins.backends, BackendSettings),
            ("enrichers", plugins.enrichers, EnricherSettings),
        )
    }
    return create_model(
        "GatewayConfig", __base__=GatewayConfig, __doc__=GatewayConfig.__doc__, **sections
    )


def config_json_schema(plugins: Plugins) -> dict[str, Any]:
    """Return the configuration's JSON Schema for the installed plugins."""
    schema = config_model(plugins).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Channel Gateway configuration"
    return schema
