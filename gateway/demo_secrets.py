"""Published demo secrets: fine for the quickstart on loopback, refused anywhere else.

Anyone who has read the README can sign a webhook with them, so a gateway reachable from other
machines must not accept one (`gateway.config_loader` refuses to load such a configuration).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, SecretStr

from gateway.config import GatewayConfig
from gateway.yaml_source import Path

__all__ = ["DEMO_SECRETS", "demo_secret_paths", "demo_secret_warning"]

DEMO_SECRETS: frozenset[str] = frozenset(
    {
        # The embedded default config's `generic` secret, published in the README...
        "whsec_Y2hhbm5lbC1nYXRld2F5LXF1aWNrc3RhcnQ=",
        # ...its base64 part, and the HMAC key it decodes to (also published there).
        "Y2hhbm5lbC1nYXRld2F5LXF1aWNrc3RhcnQ=",
        "channel-gateway-quickstart",
    }
)
"""Secrets printed in this repository's documentation."""


def demo_secret_paths(sections: Mapping[str, Mapping[str, Any]]) -> Iterator[Path]:
    """Yield the path of every demo secret in `{section: {name: settings}}` (channels, backends)."""
    for section, blocks in sections.items():
        for name, settings in blocks.items():
            yield from _walk(settings, (section, name))


def _walk(value: Any, path: Path) -> Iterator[Path]:
    if isinstance(value, SecretStr):
        if value.get_secret_value().strip() in DEMO_SECRETS:
            yield path
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), (*path, name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def demo_secret_warning(config: GatewayConfig) -> str | None:
    """Return the warning about demo secrets a loopback gateway accepts, or None if it has none."""
    paths = demo_secret_paths({"channels": config.channels, "backends": config.backends})
    users = sorted({f"{str(path[0]).removesuffix('s')} '{path[1]}'" for path in paths})
    if not users:
        return None
    verb = "uses" if len(users) == 1 else "use"
    return (
        f"{', '.join(users)} {verb} the published demo secret: accepted only because server.host "
        f"{config.server.host} is loopback; set a secret of your own before listening elsewhere"
    )
