"""Read `gateway.yaml`: expand variables, validate every block, report problems by file and line."""

from __future__ import annotations

import difflib
import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.plugins import Plugins
from gateway.registry import Registry
from gateway.yaml_source import Path, Problem, YamlDocument, read_yaml

__all__ = ["DEFAULT_CONFIG", "default_config_path", "load_config", "parse_config"]

DEFAULT_CONFIG = FilePath(__file__).with_name("default.yaml")
"""The embedded default configuration: SQLite, the `generic` channel and the `log` backend."""
_PLUGIN_SECTIONS = ("channels", "backends", "enrichers")


def default_config_path() -> FilePath:
    """Return $GATEWAY_CONFIG, else `config/gateway.yaml` if present, else the embedded default."""
    if from_env := os.environ.get("GATEWAY_CONFIG"):
        return FilePath(from_env)
    local = FilePath("config/gateway.yaml")
    return local if local.is_file() else DEFAULT_CONFIG


def load_config(
    path: str | os.PathLike[str], plugins: Plugins, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Read and validate the configuration file at `path`; raise `ConfigError` listing problems."""
    try:
        text = FilePath(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read configuration: {exc}"]) from None
    return parse_config(text, str(path), plugins, os.environ if env is None else env)


def parse_config(text: str, file: str, plugins: Plugins, env: Mapping[str, str]) -> GatewayConfig:
    """Validate configuration `text` read from `file`; raise `ConfigError` listing problems."""
    doc = read_yaml(text, file, env)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError([str(doc.problem((), "the configuration must be a mapping of sections"))])
    problems: list[Problem] = []
    registries: dict[str, Registry[Any]] = dict(
        zip(_PLUGIN_SECTIONS, (plugins.channels, plugins.backends, plugins.enrichers), strict=True)
    )
    resolved = dict(data)
    for section, registry in registries.items():
        blocks = data.get(section)
        if isinstance(blocks, dict):
            settings = {
                name: _plugin_settings(doc, (section, name), block, registry, problems)
                for name, block in blocks.items()
            }
            # A block that failed is reported already: leave it out so nothing cascades.
            resolved[section] = {name: s for name, s in settings.items() if s is not None}
    try:
        config = GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        problems.extend(_problems(doc, (), exc))
    else:
        problems.extend(_cross_check(doc, config, data))
    if problems:
        raise ConfigError([str(problem) for problem in sorted(set(problems))])
    return config


def _plugin_settings(
    doc: YamlDocument, path: Path, block: Any, registry: Registry[Any], problems: list[Problem]
) -> Any:
    """Validate one channel/backend/enricher block against its type's `settings_model`."""
    if not isinstance(block, dict):
        problems.append(doc.problem(path, "expected a mapping with a 'type' key"))
        return None
    type_name = block.get("type")
    if not isinstance(type_name, str):
        problems.append(doc.problem(path, f"missing 'type'; installed: {_listing(registry)}"))
        return None
    if type_name not in registry:
        problems.append(
            doc.problem(
                (*path, "type"),
                f"unknown {registry.what} type '{type_name}'; installed: {_listing(registry)}."
                + _did_you_mean(type_name, registry.type_names()),
            )
        )
        return None
    try:
        return registry[type_name].cls.settings_model.model_validate(block)
    except ValidationError as exc:
        problems.extend(_problems(doc, path, exc))
        return None


def _problems(doc: YamlDocument, base: Path, exc: ValidationError) -> list[Problem]:
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
        path = (*base, *loc)
        if error["type"] == "extra_forbidden":
            found.append(doc.problem(path, "unknown key", key=True))
        elif error["type"] == "missing":
            found.append(doc.problem(path, "required key is missing"))
        elif base and not loc and error["type"] == "none_required":
            continue  # a block already reported by _plugin_settings
        else:
            found.append(doc.problem(path, _message(error["msg"])))
    return found


def _is_union_tag(part: str | int) -> bool:
    # pydantic names union members in locations ("function-after[...]", "list[...]"): drop them.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _cross_check(
    doc: YamlDocument, config: GatewayConfig, data: dict[str, Any]
) -> Iterable[Problem]:
    """Check references between sections; names come from the file, valid blocks or not."""
    backends = list(data.get("backends") or ())
    channels = list(data.get("channels") or ())
    for name, channel in config.channels.items():
        if not channel.insecure and not _has_secret(channel):
            yield doc.problem(
                ("channels", name),
                f"no secret configured ({', '.join(_secret_fields(type(channel))) or 'none'}); "
                "set one, or write `insecure: true` to accept unverified webhooks",
            )
    for index, route in enumerate(config.routes):
        for position, backend in enumerate(route.to):
            if backend not in backends:
                yield doc.problem(
                    ("routes", index, "to", position),
                    f"unknown backend '{backend}'; configured: {', '.join(backends) or 'none'}."
                    + _did_you_mean(backend, backends),
                )
        for position, channel_id in enumerate(route.match.channel_id or ()):
            if channel_id not in channels:
                yield doc.problem(
                    ("routes", index, "match", "channel_id", position),
                    f"unknown channel '{channel_id}'; configured: {', '.join(channels) or 'none'}."
                    + _did_you_mean(channel_id, channels),
                )


def _has_secret(value: Any) -> bool:
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    if isinstance(value, BaseModel):
        return any(_has_secret(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, list | tuple):
        return any(_has_secret(item) for item in value)
    return False


def _secret_fields(model: type[BaseModel]) -> list[str]:
    def mentions_secret(annotation: Any) -> bool:
        if annotation is SecretStr:
            return True
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return bool(_secret_fields(annotation))
        return any(mentions_secret(arg) for arg in typing.get_args(annotation))

    return [name for name, field in model.model_fields.items() if mentions_secret(field.annotation)]


def _listing(registry: Registry[Any]) -> str:
    return ", ".join(registry.type_names()) or "none"


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
