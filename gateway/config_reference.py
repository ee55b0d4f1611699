"""The configuration reference (`docs/configuration.md`), generated from the configuration models.

`python -m gateway.config_reference` prints it for the core's own plugins (what `make docs` runs).
"""

from __future__ import annotations

import inspect
import json
import sys
import types
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BaseModel, BeforeValidator, HttpUrl, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from gateway.backend import BackendSettings
from gateway.channel import ChannelSettings
from gateway.config import GatewayConfig
from gateway.config_loader import DEFAULT_CONFIG
from gateway.enricher import EnricherSettings
from gateway.plugins import CORE_DISTRIBUTION, ENTRY_POINT_GROUP, Plugins, load_plugins
from gateway.registry import Registry
from gateway.settings_types import format_duration, one_or_many

__all__ = ["core_plugins", "render_config_reference"]

INTRO = """\
# Configuration reference

<!-- Generated from the configuration models by `make docs` (python -m gateway.config_reference).
     Do not edit: change the models' docstrings and run `make docs`. -->

The gateway reads one YAML file: the one named by `--config`, else `$GATEWAY_CONFIG`, else
`config/gateway.yaml` if it exists, else the embedded default shown below.

- **Environment variables**: `${VAR}` in a value is replaced by the variable's value, and an unset
  variable is an error; `${VAR:-default}` gives `default` when `VAR` is unset or empty; `$$` is a
  literal `$`. Only values are expanded, never keys.
- **Durations** are a number with a unit (`200ms`, `30s`, `5m`, `24h`, `7d`) or a plain number of
  seconds.
- **Unknown keys are errors**, and so is an unknown `type` (the error lists the installed types).
- **Errors** read `FILE:LINE:COL: dotted.path: message`, e.g.
  `gateway.yaml:14:11: backends.crm.type: unknown backend type 'webhok'; installed: ...`.
  Every problem in the file is reported at once: wrong values, unknown keys (with a suggestion:
  `server.prot: unknown key. Did you mean 'port'?`) and routes naming a backend or channel that is
  not configured. An empty file is an error too; leave it out to run on the embedded default.
- **Published demo secrets** (the README's `whsec_Y2hh...`) are accepted only while
  `server.host` is a loopback address: anywhere else the gateway refuses to start, and
  `gateway check` fails, naming the key and the variable to set.
- **Secrets** (type `secret` below) are never printed: not in errors, logs or command output.
  A channel with no secret configured refuses to start unless its block says `insecure: true`.
- `gateway check [--config FILE]` validates the file without starting anything;
  `gateway check --online` then starts each backend and runs its health check, printing one line
  per backend ([operations](operations.md#startup-refusals-and-the-command-line)).
- `gateway schema config` prints the file's JSON Schema for the installed plugins. For
  autocompletion and these descriptions on hover in your editor, save it
  (`gateway schema config > gateway.schema.json`) and start the file with
  `# yaml-language-server: $schema=gateway.schema.json`.

Keys are written below the way errors write them: `channels.<name>.secret`, `routes[N].match`."""

_SCALARS: dict[Any, str] = {
    str: "string", int: "integer", float: "number", bool: "boolean",
    timedelta: "duration", SecretStr: "secret", HttpUrl: "URL",
}  # fmt: skip


def core_plugins() -> Plugins:
    """Load only the plugins of the core distribution, so the reference is the same everywhere."""
    others = {
        ep.name
        for ep in entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is None or ep.dist.name != CORE_DISTRIBUTION
    }
    return load_plugins(disabled=others)


def render_config_reference(plugins: Plugins) -> str:
    """Return the configuration reference, as Markdown, for the types `plugins` registered."""
    distributions = sorted({source.distribution for source in plugins.sources})
    default = DEFAULT_CONFIG.read_text(encoding="utf-8")
    blocks = [
        INTRO,
        "Channel, backend and enricher types documented here come from: "
        + ", ".join(f"`{name}`" for name in distributions)
        + ". Run `gateway plugins` to list the types installed where you run it.",
        "## The default configuration",
        "When it finds no configuration file, the gateway runs on this one, embedded at "
        "`gateway/default.yaml` (the same file is `config/gateway.yaml` in the repository): "
        "a SQLite store, the `generic` channel and the `log` backend, no credentials needed.",
        f"```yaml\n{default.rstrip()}\n```",
        "## Top-level keys",
        *_model_blocks(GatewayConfig),
        *_nested("", GatewayConfig, 2, plugins),
    ]
    return "\n\n".join(blocks) + "\n"


def _section(path: str, model: type[BaseModel], level: int, plugins: Plugins) -> Iterator[str]:
    yield f"{'#' * level} `{path}`"
    yield from _model_blocks(model)
    yield from _nested(path, model, level + 1, plugins)
    registries: dict[type[BaseModel], Registry[Any]] = {
        ChannelSettings: plugins.channels,
        BackendSettings: plugins.backends,
        EnricherSettings: plugins.enrichers,
    }
    if (registry := registries.get(model)) is not None:
        yield from _types(path, model, registry, level + 1, plugins)


def _types(
    path: str, base: type[BaseModel], registry: Registry[Any], level: int, plugins: Plugins
) -> Iterator[str]:
    if not list(registry):
        yield f"No {registry.what} types are installed."
    for registration in registry:
        cls, settings = registration.cls, registration.cls.settings_model
        yield f"{'#' * level} {registry.what.capitalize()} type `{cls.type_name}`"
        yield (
            f"`type: {cls.type_name}`, provided by `{registration.source.distribution}` "
            f"(plugin `{registration.source.plugin}`)."
        )
        yield inspect.cleandoc(cls.__doc__ or settings.__doc__ or "")
        inherited = {name: _row(name, field) for name, field in base.model_fields.items()}
        own = [n for n, f in settings.model_fields.items() if inherited.get(n) != _row(n, f)]
        yield f"It takes the keys every {registry.what} takes (`{path}`)" + (
            ", plus:" if own else "."
        )
        if own:
            yield _table(settings, own)
        yield from _nested(path, settings, level + 1, plugins, own)


def _nested(
    path: str,
    model: type[BaseModel],
    level: int,
    plugins: Plugins,
    names: Iterable[str] | None = None,
) -> Iterator[str]:
    """Yield a section for every model held by a field of `model`."""
    for name in model.model_fields if names is None else names:
        for suffix, sub in _submodels(model.model_fields[name].annotation):
            yield from _section(f"{path}.{name}{suffix}".lstrip("."), sub, level, plugins)


def _submodels(annotation: Any, suffix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield suffix, annotation
    elif origin is list:
        yield from _submodels(args[0], f"{suffix}[N]")
    elif origin is dict:
        yield from _submodels(args[1], f"{suffix}.<name>")
    elif origin is Annotated:
        yield from _submodels(args[0], suffix)
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from _submodels(arg, suffix)


def _model_blocks(model: type[BaseModel]) -> Iterator[str]:
    if model.__doc__:
        yield inspect.cleandoc(model.__doc__)
    yield _table(model, list(model.model_fields))


def _table(model: type[BaseModel], names: Sequence[str]) -> str:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    rows += [_row(name, model.model_fields[name]) for name in names]
    return "\n".join(rows)


def _row(name: str, field: FieldInfo) -> str:
    cells = (f"`{name}`", _type(field.annotation, field.metadata), _default(field))
    description = " ".join((field.description or "").split())
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in (*cells, description)) + " |"


def _type(annotation: Any, metadata: Sequence[Any] = ()) -> str:
    """Return `annotation` written for people: `duration`, `list of string`, `sms | mms`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # a nested Field(...) carries its constraints in `metadata`
        inner = [m.metadata if isinstance(m, FieldInfo) else [m] for m in args[1:]]
        return _type(args[0], [*metadata, *(m for ms in inner for m in ms)])
    if origin is Literal:
        return " | ".join(f"`{arg}`" for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type(arg) for arg in args if arg is not type(None))
    if origin is list:
        one = any(isinstance(m, BeforeValidator) and m.func is one_or_many for m in metadata)
        return ("one or a list of " if one else "list of ") + _type(args[0])
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    written = _SCALARS.get(annotation, getattr(annotation, "__name__", str(annotation)))
    low = next((f"at least {m.ge}" for m in metadata if isinstance(m, Ge)), None)
    high = next((f"at most {m.le}" for m in metadata if isinstance(m, Le)), None)
    return ", ".join(filter(None, (written, low, high)))


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True, validated_data={})
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return ""  # a section: its keys have their own defaults
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value, default=str)}`"


if __name__ == "__main__":
    sys.stdout.write(render_config_reference(core_plugins()))
