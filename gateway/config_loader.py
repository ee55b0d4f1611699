"""Read `gateway.yaml`: expand variables, validate every block, report problems by file and line."""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path as FilePath
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from gateway.config import GatewayConfig, ServerSettings, is_loopback
from gateway.config_messages import allowed_keys, did_you_mean, human_message
from gateway.demo_secrets import demo_secret_paths
from gateway.errors import ConfigError
from gateway.plugins import Plugins
from gateway.registry import Registry
from gateway.settings_types import one_or_many
from gateway.yaml_source import Path, Problem, YamlDocument, read_yaml, variable_names

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
    """Validate configuration `text` read from `file`; raise `ConfigError` listing problems.

    Every problem is reported at once: schema errors, and the checks between sections, which
    read names from the file whether or not the blocks they name are valid.
    """
    doc = read_yaml(text, file, env)
    if doc.data is None:
        raise ConfigError(
            [
                f"{file}: the configuration file is empty; write at least one section "
                "(see docs/configuration.md), or leave the file out to use the embedded default"
            ]
        )
    data = doc.data
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
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(resolved)
    except ValidationError as exc:
        problems.extend(_problems(doc, (), exc, GatewayConfig))
    problems.extend(_missing_secrets(doc, resolved))
    problems.extend(_demo_secrets(doc, data, resolved))
    problems.extend(_routes_check(doc, data))
    if problems or config is None:
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
                + did_you_mean(type_name, registry.type_names()),
            )
        )
        return None
    model = registry[type_name].cls.settings_model
    try:
        return model.model_validate(block)
    except ValidationError as exc:
        problems.extend(_problems(doc, path, exc, model))
        return None


def _problems(
    doc: YamlDocument, base: Path, exc: ValidationError, model: type[BaseModel]
) -> list[Problem]:
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in error["loc"] if not _is_union_tag(part))
        path = (*base, *loc)
        if base and not loc and error["type"] == "none_required":
            continue  # a block already reported by _plugin_settings
        message = human_message(error)
        key = loc[-1] if error["type"] == "extra_forbidden" and loc else None
        if isinstance(key, str) and (hint := did_you_mean(key, allowed_keys(model, loc[:-1]))):
            message += "." + hint
        found.append(doc.problem(path, message, key=error["type"] == "extra_forbidden"))
    return found


def _is_union_tag(part: str | int) -> bool:
    # pydantic names union members in locations ("function-after[...]", "list[...]"): drop them.
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})


def _missing_secrets(doc: YamlDocument, resolved: dict[str, Any]) -> Iterable[Problem]:
    """A channel needs a secret, or `insecure: true`."""
    channels = resolved.get("channels")
    for name, channel in channels.items() if isinstance(channels, dict) else ():
        if not channel.insecure and not _has_secret(channel):
            yield doc.problem(
                ("channels", name),
                f"no secret configured ({', '.join(_secret_fields(type(channel))) or 'none'}); "
                "set one, or write `insecure: true` to accept unverified webhooks",
            )


def _demo_secrets(
    doc: YamlDocument, data: dict[str, Any], resolved: dict[str, Any]
) -> Iterable[Problem]:
    """Off loopback, no channel or backend may use a published demo secret."""
    host = _server_host(data)
    if is_loopback(host):
        return
    sections = {
        s: resolved[s] for s in ("channels", "backends") if isinstance(resolved.get(s), dict)
    }
    for path in demo_secret_paths(sections):
        written = path if path in doc.values else path[:-1]
        variables = variable_names(doc.templates.get(written, ""))
        fix = (
            f"set {variables[0]} to a secret of your own"
            if variables
            else "use a secret of your own"
        )
        yield doc.problem(
            written,
            f"this is the published demo secret, accepted on loopback only, and server.host {host} "
            f"is reachable from other machines; {fix}, or listen on 127.0.0.1",
        )


def _server_host(data: dict[str, Any]) -> str:
    server = data.get("server")
    host = server.get("host") if isinstance(server, dict) else None
    return host if isinstance(host, str) else ServerSettings().host


def _routes_check(doc: YamlDocument, data: dict[str, Any]) -> Iterable[Problem]:
    """Check the names routes refer to, as written, whether the routes are valid or not."""
    routes = data.get("routes")
    backends, channels = _names(data.get("backends")), _names(data.get("channels"))
    for index, route in enumerate(routes if isinstance(routes, list) else ()):
        if not isinstance(route, dict):
            continue
        yield from _references(doc, ("routes", index, "to"), route.get("to"), "backend", backends)
        if isinstance(match := route.get("match"), dict):
            path = ("routes", index, "match", "channel_id")
            yield from _references(doc, path, match.get("channel_id"), "channel", channels)


def _references(
    doc: YamlDocument, path: Path, written: Any, what: str, configured: list[str]
) -> Iterable[Problem]:
    """Yield a problem for every name in `written` (one or a list) that is not configured."""
    for position, name in enumerate(() if written is None else one_or_many(written)):
        if isinstance(name, str) and name not in configured:
            yield doc.problem(
                (*path, position),
                f"unknown {what} '{name}'; configured: {', '.join(configured) or 'none'}."
                + did_you_mean(name, configured),
            )


def _names(blocks: Any) -> list[str]:
    return list(blocks) if isinstance(blocks, dict) else []


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
